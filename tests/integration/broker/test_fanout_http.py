"""The broker against a real REST agency over HTTP (issue 11 defect 6): a source failing with 5xx while its
other call hangs ends as a per-source status, never as an exception out of ``fan_out``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiohttp import web

from adapters.base import QueryMember, SourceQuery
from adapters.hukou import HukouAdapter
from gateway.broker import Broker, SourcePolicy
from gateway.ids import id_number_check_char
from gateway.metrics import HubMetrics

ID_NUMBER = "11010519491231002" + id_number_check_char("11010519491231002")
QUERY = SourceQuery("v1", "dibao.application", "110101", (QueryMember(0, ID_NUMBER, "x", "self"),), date(2026, 11, 1))


@pytest.fixture
async def failing_agency() -> AsyncIterator[str]:
    """The register answers 503 once the vehicle query is in flight; the vehicle query never answers."""
    vehicles_asked = asyncio.Event()

    async def register(_: web.Request) -> web.Response:
        await vehicles_asked.wait()
        return web.Response(status=503, text="busy")

    async def vehicles(_: web.Request) -> web.Response:
        vehicles_asked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/api/v1/household-register/query", register)
    app.router.add_post("/api/v1/motor-vehicles/query", vehicles)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# Short deadlines, so the deadline fires while attempts are failing and being retried: the case that let a
# CancelledError escape. Any ending is right as long as it is a status; the old code raised on every run.
@pytest.mark.parametrize("retries", [0, 1, 2])
@pytest.mark.parametrize("timeout_s", [0.2, 0.3])
async def test_5xx_with_a_hanging_sibling_call_is_a_source_status(
    failing_agency: str, retries: int, timeout_s: float
) -> None:
    metrics = HubMetrics()
    adapter = HukouAdapter(failing_agency)
    broker = Broker({"hukou": adapter}, SourcePolicy(timeout_s=timeout_s, retries=retries, breaker_failures=1), metrics)
    try:
        outcome = (await broker.fan_out(QUERY, ["hukou"]))[0]
    finally:
        await broker.aclose()
    assert outcome.status in {"unavailable", "timeout"} and outcome.result is None
    assert metrics.registry.get_sample_value("hedui_breaker_open", {"adapter": "hukou"}) == 1, "the breaker counted it"
