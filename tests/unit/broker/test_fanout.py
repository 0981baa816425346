"""The broker against in-memory adapters (the real adapters are tested over HTTP in tests/integration)."""

from __future__ import annotations

import asyncio
import time
from datetime import date

from adapters.base import Fact, Provenance, QueryMember, SourceQuery, SourceResult
from gateway.broker import Broker, SourcePolicy
from gateway.errors import SourceProtocolError, SourceUnavailable
from gateway.metrics import HubMetrics

QUERY = SourceQuery(
    verification_id="v1",
    purpose="dibao.application",
    region="110101",
    members=(QueryMember(0, "11010519491231002X", "张三", "self"),),
    as_of=date(2026, 11, 1),
)


class ScriptedAdapter:
    """Answers after ``delay`` seconds, or raises the next scripted error."""

    def __init__(self, name: str, delay: float = 0.0, errors: list[Exception] | None = None) -> None:
        self.name = name
        self.categories = frozenset({name})
        self.delay = delay
        self.errors = list(errors or [])
        self.calls = 0

    async def fetch(self, query: SourceQuery) -> SourceResult:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.errors:
            raise self.errors.pop(0)
        fact = Fact(code="vehicle.count", member=0, value=1)
        return SourceResult(self.name, (fact,), Provenance(self.name, query.as_of))

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


async def test_sources_run_concurrently_and_keep_category_order() -> None:
    adapters = {name: ScriptedAdapter(name, delay=0.2) for name in ("hukou", "tax", "banking")}
    broker = Broker(adapters)
    started = time.perf_counter()
    outcomes = await broker.fan_out(QUERY, ["tax", "hukou", "banking"])
    elapsed = time.perf_counter() - started
    assert [o.category for o in outcomes] == ["tax", "hukou", "banking"]
    assert all(o.status == "ok" and o.result is not None for o in outcomes)
    assert elapsed < 0.5, "three 200 ms sources must overlap, not add up"


async def test_timeout_marks_only_the_slow_source() -> None:
    broker = Broker(
        {"hukou": ScriptedAdapter("hukou"), "tax": ScriptedAdapter("tax", delay=5)},
        SourcePolicy(timeout_s=0.1),
    )
    outcomes = {o.adapter: o for o in await broker.fan_out(QUERY, ["hukou", "tax"])}
    assert outcomes["hukou"].status == "ok"
    assert outcomes["tax"].status == "timeout" and outcomes["tax"].result is None


async def test_connection_failure_is_retried_then_succeeds() -> None:
    adapter = ScriptedAdapter("tax", errors=[SourceUnavailable("down")])
    outcome = (await Broker({"tax": adapter}, SourcePolicy(retries=1)).fan_out(QUERY, ["tax"]))[0]
    assert outcome.status == "ok" and adapter.calls == 2


async def test_protocol_errors_are_not_retried() -> None:
    adapter = ScriptedAdapter("tax", errors=[SourceProtocolError("bad xml"), SourceProtocolError("bad xml")])
    outcome = (await Broker({"tax": adapter}, SourcePolicy(retries=3)).fan_out(QUERY, ["tax"]))[0]
    assert (outcome.status, outcome.error_code, adapter.calls) == ("error", "source_protocol_error", 1)


async def test_open_breaker_skips_the_source() -> None:
    adapter = ScriptedAdapter("tax", errors=[SourceUnavailable("down")] * 10)
    metrics = HubMetrics()
    broker = Broker({"tax": adapter}, SourcePolicy(retries=0, breaker_failures=2), metrics)
    for _ in range(2):
        assert (await broker.fan_out(QUERY, ["tax"]))[0].status == "unavailable"
    calls = adapter.calls
    outcome = (await broker.fan_out(QUERY, ["tax"]))[0]
    assert (outcome.status, outcome.error_code) == ("unavailable", "breaker_open")
    assert adapter.calls == calls
    assert metrics.registry.get_sample_value("hedui_breaker_open", {"adapter": "tax"}) == 1


async def test_unexpected_adapter_bug_is_an_error_outcome() -> None:
    adapter = ScriptedAdapter("tax", errors=[ZeroDivisionError()])
    outcome = (await Broker({"tax": adapter}).fan_out(QUERY, ["tax"]))[0]
    assert (outcome.status, outcome.error_code) == ("error", "adapter_error")


async def test_category_without_adapter_is_unavailable() -> None:
    outcome = (await Broker({}).fan_out(QUERY, ["housing"]))[0]
    assert (outcome.status, outcome.error_code) == ("unavailable", "no_adapter")
