"""``/readyz`` (issue 11 defect 12): not ready, and saying why, until every configured source answers or is
marked optional; a hub without any source is never ready."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.testkit.faults import FaultInjector
from adapters.testkit.hukou import create_app as create_hukou
from adapters.testkit.population import generate
from adapters.testkit.server import RunningAgency, start_agency
from gateway.app import create_app
from gateway.keydir import init_hub_key_dir
from gateway.settings import Settings


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys") / "keys"
    init_hub_key_dir(directory)
    return directory


@pytest.fixture
async def hukou() -> AsyncIterator[RunningAgency]:
    faults = FaultInjector()
    running = await start_agency(
        "hukou", create_hukou(generate(households=2, as_of=date(2026, 10, 31)), faults), faults
    )
    try:
        yield running
    finally:
        await running.stop()


def _closed_port_url() -> str:
    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def _readyz(tmp_path: Path, key_dir: Path, **settings: Any) -> httpx.Response:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", key_dir=key_dir, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.get("/readyz")


async def test_a_hub_without_agencies_is_not_ready_and_logs_why(
    tmp_path: Path, key_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.broker"):
        response = await _readyz(tmp_path, key_dir)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready" and "no agency is configured" in body["reasons"][0]
    assert any("not ready" in record.getMessage() and "no agency" in record.getMessage() for record in caplog.records)


async def test_ready_when_every_configured_agency_answers(tmp_path: Path, key_dir: Path, hukou: RunningAgency) -> None:
    response = await _readyz(tmp_path, key_dir, agencies={"hukou": hukou.url})
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "sources": {"hukou": True}}


async def test_an_unreachable_agency_keeps_the_hub_not_ready_unless_optional(
    tmp_path: Path, key_dir: Path, hukou: RunningAgency
) -> None:
    agencies = {"hukou": hukou.url, "tax": _closed_port_url()}
    refused = await _readyz(tmp_path, key_dir, agencies=agencies)
    assert refused.status_code == 503
    assert refused.json()["reasons"] == ["source tax does not answer its health check"]
    assert refused.json()["sources"] == {"hukou": True, "tax": False}

    optional = await _readyz(tmp_path, key_dir, agencies=agencies, optional_sources=["tax"])
    assert optional.status_code == 200 and optional.json()["sources"] == {"hukou": True, "tax": False}


async def test_an_agency_whose_adapter_is_missing_is_not_ready(
    tmp_path: Path, key_dir: Path, hukou: RunningAgency
) -> None:
    response = await _readyz(tmp_path, key_dir, agencies={"hukou": hukou.url, "land_registry": hukou.url})
    assert response.status_code == 503
    assert response.json()["reasons"] == ["source land_registry is configured but its adapter did not load"]
