"""Query and path parameters: ASCII decimals within 64 bits, resource ids without control characters."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from gateway.api.params import Index, OptionalSize, ResourceId


def app() -> FastAPI:
    application = FastAPI()

    @application.get("/things/{thing_id}")
    async def thing(thing_id: ResourceId, start: Index, size: OptionalSize = None) -> dict[str, object]:
        return {"thing_id": thing_id, "start": start, "size": size}

    return application


async def get(path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://hub") as client:
        return await client.get(path)


async def test_plain_values_pass() -> None:
    response = await get("/things/5f0c1c9e-7a1b-4c55-9d07-3f0a5e3b2a10?start=0&size=9223372036854775807")
    assert response.status_code == 200
    assert response.json()["size"] == 2**63 - 1


@pytest.mark.parametrize(
    "query",
    [
        "start=%EF%BC%91%EF%BC%92",  # full-width １２
        "start=%E0%A5%A7",  # Devanagari १
        "start=12%0A",
        "start=%2012",
        "start=1_000",
        "start=%2B5",
        "start=12.0",
        "start=-1",
        "start=9223372036854775808",  # 2**63
        "start=1" + "0" * 400,
        "start=0&size=0",
    ],
)
async def test_anything_else_is_a_422(query: str) -> None:
    response = await get(f"/things/abc?{query}")
    assert response.status_code == 422


@pytest.mark.parametrize("thing_id", ["abc%00", "abc%0A", "a" * 200, "%EF%BC%91"])
async def test_resource_ids_without_control_characters_or_excess(thing_id: str) -> None:
    assert (await get(f"/things/{thing_id}?start=0")).status_code == 422
