"""The broker against in-memory adapters (the real adapters are tested over HTTP in tests/integration)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from adapters.base import Fact, Provenance, QueryMember, SourceQuery, SourceResult
from gateway.broker import Broker, SourcePolicy
from gateway.broker.quota import AgencyQuota, MemoryQuotaLimiter, Priority
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


class RendezvousAdapter(ScriptedAdapter):
    """Answers only once every adapter of its group is inside ``fetch``: serial calls would never answer."""

    def __init__(self, name: str, group: list[RendezvousAdapter], all_in: asyncio.Event) -> None:
        super().__init__(name)
        self.group = group
        self.all_in = all_in

    async def fetch(self, query: SourceQuery) -> SourceResult:
        self.calls += 1
        if sum(adapter.calls for adapter in self.group) == len(self.group):
            self.all_in.set()
        await self.all_in.wait()
        return await super().fetch(query)


async def test_sources_run_concurrently_and_keep_category_order() -> None:
    group: list[RendezvousAdapter] = []
    all_in = asyncio.Event()
    group += [RendezvousAdapter(name, group, all_in) for name in ("hukou", "tax", "banking")]
    # The deadline is only a bound for a broken broker: asked one after another, each would time out.
    broker = Broker({adapter.name: adapter for adapter in group}, SourcePolicy(timeout_s=30))
    outcomes = await broker.fan_out(QUERY, ["tax", "hukou", "banking"])
    assert [o.category for o in outcomes] == ["tax", "hukou", "banking"]
    assert all(o.status == "ok" and o.result is not None for o in outcomes)


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


async def test_connection_failures_are_retried_at_most_retries_times() -> None:
    adapter = ScriptedAdapter("tax", errors=[SourceUnavailable("down")] * 5)
    outcome = (await Broker({"tax": adapter}, SourcePolicy(retries=2)).fan_out(QUERY, ["tax"]))[0]
    assert (outcome.status, outcome.error_code, adapter.calls) == ("unavailable", "source_unavailable", 3)


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


class CancelsItsCaller(ScriptedAdapter):
    """Fails the way a Python 3.11 TaskGroup could: a cancellation of the calling task nobody asked for."""

    async def fetch(self, query: SourceQuery) -> SourceResult:
        self.calls += 1
        current = asyncio.current_task()
        assert current is not None
        current.cancel()
        current.uncancel()  # the library "takes back" its request, but the cancellation is still delivered
        await asyncio.sleep(0)
        raise AssertionError("the cancellation is delivered at the await above")


async def test_a_cancellation_nobody_asked_for_is_an_error_outcome_not_an_escape() -> None:
    metrics = HubMetrics()
    adapter = CancelsItsCaller("hukou")
    broker = Broker({"hukou": adapter}, SourcePolicy(retries=0, breaker_failures=1), metrics)
    outcome = (await broker.fan_out(QUERY, ["hukou"]))[0]
    assert (outcome.status, outcome.error_code) == ("error", "adapter_error")
    assert metrics.registry.get_sample_value("hedui_breaker_open", {"adapter": "hukou"}) == 1, "counted"


async def test_a_cancelled_verification_still_cancels() -> None:
    entered = asyncio.Event()

    class Hangs(ScriptedAdapter):
        async def fetch(self, query: SourceQuery) -> SourceResult:
            entered.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    broker = Broker({"tax": Hangs("tax")}, SourcePolicy(timeout_s=30))
    task = asyncio.create_task(broker.fan_out(QUERY, ["tax"]))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_half_open_trial_is_released_when_the_verification_is_cancelled() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    class HangsOnce(ScriptedAdapter):
        async def fetch(self, query: SourceQuery) -> SourceResult:
            self.calls += 1
            if self.calls == 2:  # the half-open trial
                entered.set()
                await release.wait()
            if self.calls == 1:
                raise SourceUnavailable("down")
            return await super().fetch(query)

    adapter = HangsOnce("tax")
    broker = Broker({"tax": adapter}, SourcePolicy(retries=0, breaker_failures=1, breaker_reset_s=5, timeout_s=30))
    clock = Clock()
    broker._sources["tax"].breaker._clock = clock
    assert (await broker.fan_out(QUERY, ["tax"]))[0].status == "unavailable"  # opens the breaker
    clock.now = 5  # half-open: one trial may go
    trial = asyncio.create_task(broker.fan_out(QUERY, ["tax"]))
    await entered.wait()
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    release.set()
    outcome = (await broker.fan_out(QUERY, ["tax"]))[0]
    assert outcome.status == "ok", "the cancelled trial must not keep the breaker's only trial slot"


async def test_a_used_up_quota_makes_the_source_unavailable_without_blaming_the_agency() -> None:
    metrics = HubMetrics()
    adapter = ScriptedAdapter("tax")
    limiter = MemoryQuotaLimiter({"tax": AgencyQuota(rate_per_s=1)})  # the next in a second
    broker = Broker({"tax": adapter}, SourcePolicy(timeout_s=0.2, breaker_failures=1), metrics, limiter)
    assert (await broker.fan_out(QUERY, ["tax"]))[0].status == "ok"
    outcome = (await broker.fan_out(QUERY, ["tax"], Priority.BATCH))[0]
    assert (outcome.status, outcome.error_code, adapter.calls) == ("unavailable", "quota_exhausted", 1)
    assert metrics.registry.get_sample_value("hedui_breaker_open", {"adapter": "tax"}) == 0
    await broker.aclose()
