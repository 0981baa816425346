"""One conformance suite for both quota limiters (in-process and Redis): the same behaviour, checked the same
way. Windows and admissions are compared on the limiter's own clock (``Permit.admitted_at``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest

from gateway.broker.quota import (
    AgencyQuota,
    MemoryQuotaLimiter,
    Permit,
    Priority,
    QuotaLimiter,
    RedisQuotaLimiter,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
MakeLimiter = Callable[[Mapping[str, AgencyQuota]], QuotaLimiter]


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    made: list[QuotaLimiter] = []
    namespace = f"hedui-test-{uuid.uuid4().hex[:12]}"  # nothing shared with other tests or runs

    def make(quotas: Mapping[str, AgencyQuota]) -> QuotaLimiter:
        limiter: QuotaLimiter
        if request.param == "memory":
            limiter = MemoryQuotaLimiter(quotas)
        else:
            limiter = RedisQuotaLimiter(REDIS_URL, quotas, namespace=namespace)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


def max_in_any_window(admitted: list[float], window_s: float) -> int:
    """The most admissions inside any half-open window [t, t + window_s) (ms precision, as Redis keeps)."""
    times = sorted(round(t * 1000) for t in admitted)
    window_ms = round(window_s * 1000)
    best, start = 0, 0
    for end, time_ms in enumerate(times):
        while times[start] <= time_ms - window_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll with a generous bound (no timing assumption: the bound only catches a broken limiter)."""
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_an_agency_without_quota_is_admitted_at_once(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter({"tax": AgencyQuota(rate_per_s=1)})
    permits = [await limiter.acquire("hukou") for _ in range(50)]
    for permit in permits:
        await permit.release()


async def test_the_rate_is_never_exceeded_in_any_window(make_limiter: MakeLimiter) -> None:
    quota = AgencyQuota(rate_per_s=40, window_s=0.25, interactive_reserve=0)  # 10 per 250 ms window
    limiter = make_limiter({"tax": quota})

    async def one() -> float:
        async with await limiter.acquire("tax") as permit:
            return permit.admitted_at

    admitted = await asyncio.gather(*(one() for _ in range(35)))
    assert max_in_any_window(admitted, quota.window_s) == quota.window_limit
    assert (await limiter.usage("tax")).in_flight == 0


async def test_a_costlier_request_takes_its_share_of_the_window(make_limiter: MakeLimiter) -> None:
    quota = AgencyQuota(rate_per_s=8, window_s=0.5, interactive_reserve=0)  # 4 per window
    limiter = make_limiter({"hukou": quota})
    admitted: list[float] = []
    for _ in range(4):
        async with await limiter.acquire("hukou", cost=2) as permit:
            admitted += [permit.admitted_at] * 2
    assert max_in_any_window(admitted, quota.window_s) == 4


async def test_concurrency_is_never_exceeded(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter({"banking": AgencyQuota(rate_per_s=10_000, concurrency=3)})
    in_flight, most = 0, 0

    async def one() -> None:
        nonlocal in_flight, most
        async with await limiter.acquire("banking"):
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            in_flight -= 1

    await asyncio.gather(*(one() for _ in range(40)))
    assert most == 3
    assert (await limiter.usage("banking")).in_flight == 0


async def test_interactive_requests_go_before_waiting_batch_requests(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter({"housing": AgencyQuota(rate_per_s=10_000, concurrency=2, interactive_reserve=0)})
    holders = [await limiter.acquire("housing"), await limiter.acquire("housing")]
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        async with await limiter.acquire("housing", priority):
            order.append(name)

    batch = asyncio.create_task(take("batch", Priority.BATCH))
    interactive = asyncio.create_task(take("interactive", Priority.INTERACTIVE))
    await until(lambda: _waiting(limiter, "housing", 1), "the interactive request waits")
    await holders[0].release()  # one slot frees: the batch request asked first, the interactive one goes
    await asyncio.gather(interactive, batch)
    await holders[1].release()
    assert order == ["interactive", "batch"]


async def _waiting(limiter: QuotaLimiter, agency: str, count: int) -> bool:
    return (await limiter.usage(agency)).interactive_waiting == count


async def test_batch_requests_leave_a_reserve_to_interactive_ones(make_limiter: MakeLimiter) -> None:
    quota = AgencyQuota(rate_per_s=20, window_s=0.5, interactive_reserve=0.1)  # 10 per window, 1 reserved
    limiter = make_limiter({"tax": quota})
    batch_permits = [await limiter.acquire("tax", Priority.BATCH) for _ in range(9)]
    tenth_batch = asyncio.create_task(limiter.acquire("tax", Priority.BATCH))
    interactive = await limiter.acquire("tax", Priority.INTERACTIVE)
    late_batch = await tenth_batch
    assert interactive.admitted_at < late_batch.admitted_at
    assert late_batch.admitted_at - batch_permits[0].admitted_at >= quota.window_s - 0.001
    for permit in [*batch_permits, interactive, late_batch]:
        await permit.release()


async def test_interactive_requests_in_the_window_use_their_reserve(make_limiter: MakeLimiter) -> None:
    # Batch and interactive requests together use the whole quota: the front desk's request took the reserve,
    # so the batch fills the rest of the window at once instead of leaving one request of it unused.
    quota = AgencyQuota(rate_per_s=20, window_s=0.5, interactive_reserve=0.1)  # 10 per window, 1 reserved
    limiter = make_limiter({"tax": quota})
    interactive = await limiter.acquire("tax", Priority.INTERACTIVE)
    batch_permits = [await limiter.acquire("tax", Priority.BATCH) for _ in range(9)]
    assert max(p.admitted_at for p in batch_permits) - interactive.admitted_at < quota.window_s
    assert (await limiter.usage("tax")).in_window == 10
    eleventh = await limiter.acquire("tax", Priority.BATCH)  # the window is full: the next one waits for it
    assert eleventh.admitted_at - interactive.admitted_at >= quota.window_s - 0.001
    for permit in [interactive, *batch_permits, eleventh]:
        await permit.release()


async def test_giving_up_while_waiting_takes_nothing(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter({"civil_affairs": AgencyQuota(rate_per_s=10_000, concurrency=1)})
    holder = await limiter.acquire("civil_affairs")
    waiter = asyncio.create_task(limiter.acquire("civil_affairs"))
    await until(lambda: _waiting(limiter, "civil_affairs", 1), "the request waits")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (await limiter.usage("civil_affairs")).interactive_waiting == 0
    await holder.release()
    permit: Permit = await limiter.acquire("civil_affairs")
    assert (await limiter.usage("civil_affairs")).in_flight == 1
    await permit.release()
