"""Concurrent fan-out of one verification to the agency adapters (docs/architecture.md §6 step "broker", §7).

Each source gets its own deadline, bounded retries with jittered exponential backoff for connection
failures (queries are reads, so retrying is safe), a circuit breaker and a concurrency limit. A failing
source never fails the verification: it comes back with a status, and the report becomes ``partial``.
A source whose answer is about another person (the adapter's check, or the hub's own cross-check of birth
date and sex against the identity number) is ``error`` with the reason ``record_mismatch``, and none of its
facts are used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from adapters.base import Adapter, SourceQuery, SourceResult
from gateway.broker.breaker import BreakerState, CircuitBreaker
from gateway.broker.crosscheck import check_record_identity
from gateway.broker.quota import Priority, QuotaLimiter
from gateway.errors import QuotaUnavailable, SourceProtocolError, SourceUnavailable
from gateway.metrics import HubMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    timeout_s: float = 5.0
    retries: int = 1
    concurrency: int = 64
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    sources: dict[str, bool]
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one source contributed: ``status`` is ok, error, timeout or unavailable (docs/architecture.md §6)."""

    adapter: str
    category: str
    status: str
    latency_ms: int
    result: SourceResult | None = None
    error_code: str | None = None


@dataclass(slots=True)
class _Call:
    """One source call of one verification, as the quota sees it."""

    agency: str
    priority: Priority
    cost: int
    waiting_for_quota: bool = False


class _Source:
    """One source and everything the broker keeps about it, built once: breaker, retry policy, slots."""

    def __init__(self, adapter: Adapter, policy: SourcePolicy) -> None:
        self.adapter = adapter
        self.policy = policy
        self.breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_reset_s)
        self.slots = asyncio.Semaphore(policy.concurrency)
        # Built once per source; each call runs on a copy (tenacity keeps per-run state on the object).
        self.retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.retries + 1),
            # 50 ms, 100 ms, ... plus up to 50 ms of jitter, at most 0.5 s. (tenacity's default jitter is up
            # to 1 s, which alone used up a short deadline before the retry could start.)
            wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
            retry=retry_if_exception_type(SourceUnavailable),
            reraise=True,
        )


class Broker:
    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        policy: SourcePolicy | None = None,
        metrics: HubMetrics | None = None,
        limiter: QuotaLimiter | None = None,
    ) -> None:
        """``limiter`` (owned: closed by :meth:`aclose`) applies the agencies' quotas to every call."""
        policy = policy or SourcePolicy()
        self._limiter = limiter
        self._sources = {name: _Source(adapter, policy) for name, adapter in adapters.items()}
        self._by_category = {category: name for name, adapter in adapters.items() for category in adapter.categories}
        self._metrics = metrics
        self._last_reasons: tuple[str, ...] | None = None

    @property
    def adapters(self) -> dict[str, Adapter]:
        return {name: source.adapter for name, source in self._sources.items()}

    async def fan_out(
        self, query: SourceQuery, categories: Sequence[str], priority: Priority = Priority.INTERACTIVE
    ) -> list[SourceOutcome]:
        """Ask every source serving ``categories`` at once; outcomes come back in ``categories`` order.

        ``priority`` orders calls under the agencies' quotas: bulk re-verification passes ``BATCH``.
        """
        return list(await asyncio.gather(*(self._ask(category, query, priority) for category in categories)))

    async def _ask(self, category: str, query: SourceQuery, priority: Priority) -> SourceOutcome:
        name = self._by_category.get(category)
        if name is None:
            return self._finish(category, category, "unavailable", 0.0, error_code="no_adapter")
        source = self._sources[name]
        if not source.breaker.allow():
            return self._finish(name, category, "unavailable", 0.0, error_code="breaker_open", source=source)
        started = time.perf_counter()
        try:
            return await self._call(name, category, source, query, started, priority)
        finally:
            # Whatever ended the call (an outcome, or this verification being cancelled), a half-open
            # trial must not stay taken, or the source would be skipped until the process restarts.
            source.breaker.release_trial()

    async def _call(
        self, name: str, category: str, source: _Source, query: SourceQuery, started: float, priority: Priority
    ) -> SourceOutcome:
        call = _Call(name, priority, getattr(source.adapter, "calls_per_fetch", 1))
        try:
            async with asyncio.timeout(source.policy.timeout_s), source.slots:
                result = await self._fetch_with_retries(source, query, call)
            check_record_identity(query, result)
        except TimeoutError:
            if call.waiting_for_quota:  # the agency was not slow: its quota is used up (no breaker failure)
                return self._finish(name, category, "unavailable", started, error_code="quota_exhausted")
            source.breaker.record_failure()
            return self._finish(name, category, "timeout", started, error_code="timeout", source=source)
        except QuotaUnavailable as exc:  # the shared quota cannot be checked: the agency was not called
            return self._finish(name, category, "unavailable", started, error_code=exc.code)
        except SourceUnavailable as exc:
            source.breaker.record_failure()
            return self._finish(name, category, "unavailable", started, error_code=exc.code, source=source)
        except SourceProtocolError as exc:
            source.breaker.record_failure()
            return self._finish(name, category, "error", started, error_code=exc.code, source=source)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this verification is being cancelled (client gone, shutdown): not the source's fault
            # A cancellation nobody asked this task for (a library cancelling the wrong task): the source's
            # call failed; it must not escape as a CancelledError and turn the verification into a 500.
            log.error("adapter %s ended with a cancellation nobody requested", name)
            source.breaker.record_failure()
            return self._finish(name, category, "error", started, error_code="adapter_error", source=source)
        except Exception:  # an adapter bug must not fail the verification; it is logged without query data
            log.exception("adapter %s raised unexpectedly", name)
            source.breaker.record_failure()
            return self._finish(name, category, "error", started, error_code="adapter_error", source=source)
        source.breaker.record_success()
        return self._finish(name, category, "ok", started, result=result, source=source)

    async def _fetch_with_retries(self, source: _Source, query: SourceQuery, call: _Call) -> SourceResult:
        """The source's answer; a connection failure (``SourceUnavailable``: the query is a read, so asking
        again is safe) is retried under the source's tenacity policy, any other error at once ends the call."""
        async for attempt in source.retrying.copy():
            with attempt:
                return await self._attempt(source, query, call)
        raise AssertionError("tenacity returns or re-raises")  # pragma: no cover

    async def _attempt(self, source: _Source, query: SourceQuery, call: _Call) -> SourceResult:
        if self._limiter is None:
            return await source.adapter.fetch(query)
        # Every attempt is a request to the agency, so every attempt takes its share of the quota.
        call.waiting_for_quota = True
        async with await self._limiter.acquire(call.agency, call.priority, call.cost):
            call.waiting_for_quota = False
            return await source.adapter.fetch(query)

    def _finish(
        self,
        adapter: str,
        category: str,
        status: str,
        started: float,
        *,
        result: SourceResult | None = None,
        error_code: str | None = None,
        source: _Source | None = None,
    ) -> SourceOutcome:
        latency_ms = round((time.perf_counter() - started) * 1000) if started else 0
        if self._metrics is not None:
            self._metrics.source_outcomes.labels(adapter, status).inc()
            if started:
                self._metrics.source_seconds.labels(adapter).observe(latency_ms / 1000)
            if source is not None:
                is_open = source.breaker.state is not BreakerState.CLOSED
                self._metrics.breaker_open.labels(adapter).set(1 if is_open else 0)
        return SourceOutcome(adapter, category, status, latency_ms, result, error_code)

    async def health(self) -> dict[str, bool]:
        """Each source's health check, bounded by its deadline; a check that fails in any way is False."""
        names = list(self._sources)
        results = await asyncio.gather(*(self._healthy(self._sources[n]) for n in names))
        return dict(zip(names, results, strict=True))

    @staticmethod
    async def _healthy(source: _Source) -> bool:
        try:
            async with asyncio.timeout(source.policy.timeout_s):
                return await source.adapter.health()
        except Exception:  # a health check that raises or times out says "not healthy", nothing more
            return False

    async def readiness(self, configured: Iterable[str], optional: Collection[str]) -> Readiness:
        """Whether the hub may take verifications: every configured source (agencies named in the settings
        and every source the broker holds) answers its health check, or is marked ``optional``; and at
        least one is configured, since a hub without sources could only return empty ``partial`` reports.

        The reasons are logged when they change (not on every probe), so an operator sees why.
        """
        health = await self.health()
        reasons: list[str] = []
        names = sorted(set(configured) | set(health))
        if not names:
            reasons.append("no agency is configured (HEDUI_AGENCIES)")
        for name in names:
            if name in optional:
                continue
            if name not in health:
                reasons.append(f"source {name} is configured but its adapter did not load")
            elif not health[name]:
                reasons.append(f"source {name} does not answer its health check")
        readiness = Readiness(ready=not reasons, sources=health, reasons=tuple(reasons))
        if readiness.reasons != self._last_reasons:
            if readiness.ready:
                log.info("ready: every required source answers")
            else:
                log.warning("not ready: %s", "; ".join(readiness.reasons))
            self._last_reasons = readiness.reasons
        return readiness

    async def aclose(self) -> None:
        await asyncio.gather(*(source.adapter.aclose() for source in self._sources.values()))
        if self._limiter is not None:
            await self._limiter.aclose()
