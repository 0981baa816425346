"""The hub applies ``HEDUI_AGENCY_QUOTAS`` through its broker: per process without Redis, shared with it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from adapters.base import QueryMember, SourceQuery
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import generate
from adapters.testkit.server import RunningAgency, start_agency
from adapters.testkit.tax import create_app
from gateway.broker.quota import MemoryQuotaLimiter, RedisQuotaLimiter
from gateway.context import open_hub
from gateway.keydir import init_hub_key_dir
from gateway.settings import Settings
from tests.integration.broker.quota.test_conformance import REDIS_URL

POPULATION = generate(seed=3, households=2, as_of=date(2026, 10, 31))


@pytest.fixture
async def tax() -> AsyncIterator[RunningAgency]:
    faults = FaultInjector()
    running = await start_agency("tax", create_app(POPULATION, faults), faults)
    try:
        yield running
    finally:
        await running.stop()


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "redis"])
async def test_the_configured_quota_holds_for_the_hubs_calls(tmp_path: Path, tax: RunningAgency, shared: bool) -> None:
    init_hub_key_dir(tmp_path / "keys")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        key_dir=tmp_path / "keys",
        agencies={"tax": tax.url},
        source_timeout_s=0.3,
        agency_quotas={"tax": {"rate_per_s": 1}},  # the next call a second later: after the deadline
        redis_url=REDIS_URL if shared else None,
        redis_prefix=f"hedui-test-{uuid.uuid4().hex[:12]}",  # nothing shared with other tests or runs
    )
    hub = await open_hub(settings)
    try:
        assert isinstance(hub.broker._limiter, RedisQuotaLimiter if shared else MemoryQuotaLimiter)
        person = POPULATION.households[0].members[0]
        query = SourceQuery(
            f"v-{uuid.uuid4().hex}",
            "dibao.application",
            "110101",
            (QueryMember(0, person.id_number, "x", "self"),),
            POPULATION.as_of,
        )
        first = (await hub.broker.fan_out(query, ["tax"]))[0]
        second = (await hub.broker.fan_out(query, ["tax"]))[0]
    finally:
        await hub.aclose()
    assert first.status == "ok"
    assert (second.status, second.error_code) == ("unavailable", "quota_exhausted")
    assert tax.faults.total_requests == 1
