"""One hub-like process taking agency permits from the shared Redis limiter (run twice by test_redis.py).

Prints one JSON line: the admission times (the Redis server's clock) and the most permits in flight at
once that this process saw, counted in a Redis key shared by both processes.
"""

from __future__ import annotations

import asyncio
import json
import sys

import redis.asyncio as aioredis

from gateway.broker.quota import AgencyQuota, Priority, RedisQuotaLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


async def main(namespace: str, requests: int, rate: float, concurrency: int) -> None:
    limiter = RedisQuotaLimiter(
        REDIS_URL, {"tax": AgencyQuota(rate_per_s=rate, concurrency=concurrency)}, namespace=namespace
    )
    counter = aioredis.Redis.from_url(REDIS_URL)
    in_flight_key = f"{namespace}:test:in_flight"
    admitted: list[float] = []
    most = 0

    async def one(index: int) -> None:
        nonlocal most
        priority = Priority.BATCH if index % 2 else Priority.INTERACTIVE
        async with await limiter.acquire("tax", priority) as permit:
            admitted.append(permit.admitted_at)
            most = max(most, int(await counter.incr(in_flight_key)))
            await asyncio.sleep(0.005)  # the agency call this permit is for
            await counter.decr(in_flight_key)

    sys.stdin.readline()  # both processes start together when the test says so
    await asyncio.gather(*(one(index) for index in range(requests)))
    print(json.dumps({"admitted": admitted, "most_in_flight": most}), flush=True)
    await counter.aclose()
    await limiter.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])))
