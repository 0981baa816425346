"""HubMetrics' request counter: by route template, and 500 for an exception no handler turned into a response."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gateway.metrics import HubMetrics, RequestCounter


async def test_responses_are_counted_by_route_template_and_status() -> None:
    metrics = HubMetrics()
    app = FastAPI()
    app.add_middleware(RequestCounter, metrics=metrics)

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "broken":
            raise RuntimeError("a bug")
        return {"id": item_id}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        assert (await client.get("/items/110101197503140011")).status_code == 200
        assert (await client.get("/items/broken")).status_code == 500
        assert (await client.get("/nowhere")).status_code == 404

    def count(route: str, status: str) -> float | None:
        return metrics.registry.get_sample_value(
            "hedui_http_requests_total", {"method": "GET", "route": route, "status": status}
        )

    assert count("/items/{item_id}", "200") == 1
    assert count("/items/{item_id}", "500") == 1
    assert count("unmatched", "404") == 1
    exposed = metrics.exposition().decode()
    assert "110101197503140011" not in exposed
