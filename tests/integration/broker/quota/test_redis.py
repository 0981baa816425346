"""The shared limiter across processes: two processes together never exceed one agency's quota; a process
that dies holding permits does not keep the agency's slots; one process with more requests at once than
connections to Redis gets every one of them answered."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from gateway.broker.quota import AgencyQuota, Priority, RedisQuotaLimiter
from tests.integration.broker.quota.test_conformance import REDIS_URL, max_in_any_window, until

ROOT = Path(__file__).resolve().parents[4]


async def test_two_processes_together_never_exceed_the_quota() -> None:
    namespace = f"hedui-test-{uuid.uuid4().hex[:12]}"
    rate, concurrency, per_process = 25.0, 4, 30
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.broker.quota.quota_worker",
            namespace,
            str(per_process),
            str(rate),
            str(concurrency),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    outputs = [json.loads((await process.communicate())[0]) for process in processes]
    assert all(process.returncode == 0 for process in processes)

    admitted = [time for output in outputs for time in output["admitted"]]
    assert len(admitted) == 2 * per_process
    assert max_in_any_window(admitted, 1.0) == int(rate), "the two processes share one window"
    assert max(output["most_in_flight"] for output in outputs) <= concurrency
    print(
        f"\nquota across 2 processes: {len(admitted)} requests, most in any 1 s window "
        f"{max_in_any_window(admitted, 1.0)} (quota {int(rate)}), most in flight "
        f"{max(output['most_in_flight'] for output in outputs)} (limit {concurrency})"
    )


async def test_the_slots_of_a_process_that_died_come_back_when_its_lease_ends() -> None:
    namespace = f"hedui-test-{uuid.uuid4().hex[:12]}"
    quotas = {"tax": AgencyQuota(rate_per_s=1000, concurrency=1)}
    crashed = RedisQuotaLimiter(REDIS_URL, quotas, namespace=namespace, lease_s=0.3)
    await crashed.acquire("tax")  # never released: the process "dies" holding it
    await crashed.aclose()
    survivor = RedisQuotaLimiter(REDIS_URL, quotas, namespace=namespace)
    try:
        assert (await survivor.usage("tax")).in_flight == 1
        permit = await survivor.acquire("tax")  # admitted once the dead process's lease has run out
        await permit.release()
        await until(lambda: _idle(survivor), "the slot is free again")
    finally:
        await survivor.aclose()


async def test_more_requests_at_once_than_connections_wait_for_one() -> None:
    # A worker with 64 items of five agencies in flight asks 320 times at once; none may fail for want of a
    # connection (redis-py's default pool raised once 100 were in use: each such request was a source skipped).
    namespace = f"hedui-test-{uuid.uuid4().hex[:12]}"
    limiter = RedisQuotaLimiter(REDIS_URL, {"tax": AgencyQuota(rate_per_s=10_000)}, namespace=namespace)
    try:
        permits = await asyncio.gather(*(limiter.acquire("tax") for _ in range(320)))
        assert (await limiter.usage("tax")).in_window == 320
        for permit in permits:
            await permit.release()
    finally:
        await limiter.aclose()


async def test_requests_waiting_in_one_process_do_not_all_ask_redis_again() -> None:
    namespace = f"hedui-test-{uuid.uuid4().hex[:12]}"
    quota = AgencyQuota(rate_per_s=2, window_s=0.5, interactive_reserve=0)  # 1 per 500 ms window
    limiter = RedisQuotaLimiter(REDIS_URL, {"tax": quota}, namespace=namespace)
    admit = limiter._admit
    calls = 0

    async def counted(**arguments: Any) -> Any:
        nonlocal calls
        calls += 1
        return await admit(**arguments)

    limiter._admit = counted  # type: ignore[assignment]
    try:
        first = await limiter.acquire("tax", Priority.BATCH)
        waiting = [asyncio.create_task(limiter.acquire("tax", Priority.BATCH)) for _ in range(20)]
        second = await asyncio.wait_for(asyncio.shield(waiting[0]), 5)  # one window later
        assert second.admitted_at - first.admitted_at >= quota.window_s - 0.001
        # The head asked at most every 20 ms for a window (about 25 times), the 19 others once each; every
        # one of the 20 asking every 20 ms made 500.
        assert calls < 100
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        await limiter.aclose()


async def _idle(limiter: RedisQuotaLimiter) -> bool:
    return (await limiter.usage("tax")).in_flight == 0
