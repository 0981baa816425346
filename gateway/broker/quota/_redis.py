"""The shared quota limiter on Redis: every hub process and batch worker, one quota (see
:mod:`gateway.broker.quota`).

Each admission is one ``EVALSHA`` of :data:`_ADMIT`, atomic on the server (Redis runs a script to the end
before any other command) and timed by the server's ``TIME``, so processes on different machines never
disagree about the window. Per agency three sorted sets:

* ``…:rate``: one member per request admitted, scored by its admission time (ms); members older than the
  window are dropped, so the set's size is the window's use;
* ``…:leases``: one member per permit in flight, scored by when its lease expires; a process that dies
  without releasing loses its slots when the lease runs out (``lease_s``, longer than any source deadline);
* ``…:waiting``: interactive requests waiting, scored by when their registration expires (refreshed each
  time they look again), which hold back batch requests (of the requests of one process waiting for one
  agency with one priority, one asks again at a time, and is registered: the others queue behind it);
* ``…:interactive``: one member per interactive request admitted, scored like ``…:rate``: interactive requests
  in the window have used (part of) the reserve batch requests leave them, so batch requests may fill the rest.

The connection pool blocks when all its connections are busy (a request then waits for one; its source
deadline bounds the wait) instead of failing: redis-py's default pool raises once 100 are in use, which one
process reaches with 20 verifications of five agencies in flight, and a failed check is a source skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.broker.quota._model import AgencyQuota, Permit, Priority, QuotaUsage
from gateway.errors import QuotaUnavailable

# KEYS: rate, leases, waiting, interactive. ARGV: window_limit, window_ms, concurrency, lease_ms, token, cost,
# batch (0/1), reserve_rate, reserve_slots, waiter_ttl_ms. Returns {admitted_at_ms, 0} or {-1, wait_ms}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, concurrency = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, token, cost, batch = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7] == '1'
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
local rate_cap, slot_cap = limit, concurrency
if batch then
  if redis.call('ZCARD', KEYS[3]) > 0 then return {-1, 5} end
  local reserve = tonumber(ARGV[8]) - redis.call('ZCARD', KEYS[4])
  if reserve < 0 then reserve = 0 end
  rate_cap = limit - reserve
  slot_cap = concurrency - tonumber(ARGV[9])
end
if cost > rate_cap then cost = rate_cap end
local function wait(ms)
  if not batch then redis.call('ZADD', KEYS[3], now + tonumber(ARGV[10]), token) end
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[10]) * 2)
  return {-1, ms}
end
local used = redis.call('ZCARD', KEYS[1])
local excess = used + cost - rate_cap
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], excess - 1, excess - 1, 'WITHSCORES')
  local ms = tonumber(oldest[2]) + window - now
  if ms < 1 then ms = 1 end
  return wait(ms)
end
if concurrency > 0 and redis.call('ZCARD', KEYS[2]) >= slot_cap then return wait(5) end
for i = 1, cost do redis.call('ZADD', KEYS[1], now, token .. ':' .. i) end
redis.call('PEXPIRE', KEYS[1], window * 2)
if not batch then
  for i = 1, cost do redis.call('ZADD', KEYS[4], now, token .. ':' .. i) end
  redis.call('PEXPIRE', KEYS[4], window * 2)
end
if concurrency > 0 then
  redis.call('ZADD', KEYS[2], now + lease, token)
  redis.call('PEXPIRE', KEYS[2], lease * 2)
end
redis.call('ZREM', KEYS[3], token)
return {now, 0}
"""

# How long a waiter sleeps at most before it asks again.
_MAX_POLL_S = 0.02
_WAITER_TTL_MS = 1000
# Connections per process; a request beyond them waits for one (see the module's docstring).
_MAX_CONNECTIONS = 50


class RedisQuotaLimiter:
    """Sliding-window rate and concurrency limits per agency, shared through one Redis server."""

    def __init__(
        self,
        url: str,
        quotas: Mapping[str, AgencyQuota],
        *,
        namespace: str = "hedui",
        lease_s: float = 120.0,
    ) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=_MAX_CONNECTIONS, timeout=None)
        self._redis = aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes it
        self._quotas = dict(quotas)
        self._namespace = namespace
        self._lease_ms = round(lease_s * 1000)
        self._admit = self._redis.register_script(_ADMIT)
        self._waiters: defaultdict[tuple[str, Priority], asyncio.Lock] = defaultdict(asyncio.Lock)

    def _keys(self, agency: str) -> list[str]:
        base = f"{self._namespace}:quota:{agency}"
        return [f"{base}:rate", f"{base}:leases", f"{base}:waiting", f"{base}:interactive"]

    async def acquire(self, agency: str, priority: Priority = Priority.INTERACTIVE, cost: int = 1) -> Permit:
        """Raises :class:`QuotaUnavailable` when Redis cannot be reached: without the shared count the
        hub cannot know the agency's quota is respected, so it does not call the agency (fail closed)."""
        quota = self._quotas.get(agency)
        if quota is None:
            return Permit(agency, 0.0, None)
        token = uuid.uuid4().hex
        keys = self._keys(agency)
        batch = priority is Priority.BATCH
        arguments: list[str | int | float] = [
            quota.window_limit,
            round(quota.window_s * 1000),
            quota.concurrency,
            self._lease_ms,
            token,
            max(1, cost),
            1 if batch else 0,
            quota.reserve_rate(),
            quota.reserve_slots(),
            _WAITER_TTL_MS,
        ]
        admitted = False
        try:
            admitted_ms, wait_ms = await self._admit(keys=keys, args=arguments)
            if admitted_ms < 0:
                # One waiter per agency and priority of this process asks Redis again; the others wait for
                # their turn here. Every waiter asking every 20 ms cost a batch worker with 10 items of five
                # agencies in flight 2,500 round trips a second, more CPU than its verifications.
                async with self._waiters[agency, priority]:
                    while True:
                        admitted_ms, wait_ms = await self._admit(keys=keys, args=arguments)
                        if admitted_ms >= 0:
                            break
                        await asyncio.sleep(min(wait_ms / 1000, _MAX_POLL_S))
            admitted = True
            return Permit(agency, admitted_ms / 1000, self, token)
        except RedisError as exc:
            raise QuotaUnavailable(f"the shared quota of {agency} cannot be checked (Redis)") from exc
        finally:
            if not admitted:
                # Given up (cancelled, deadline): withdraw the waiter, and the lease in case the server
                # admitted us while the answer was lost. The rate it may have used stays counted.
                await self._withdraw(keys, token)

    async def _withdraw(self, keys: list[str], token: str) -> None:
        with contextlib.suppress(RedisError):  # else both expire by themselves (waiters in a second, leases later)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zrem(keys[1], token)
                pipe.zrem(keys[2], token)
                await pipe.execute()

    async def usage(self, agency: str) -> QuotaUsage:
        quota = self._quotas.get(agency)
        if quota is None:
            return QuotaUsage(0, 0, 0)
        rate, leases, waiting, _ = self._keys(agency)
        seconds, micros = await self._redis.time()
        now_ms = seconds * 1000 + micros // 1000
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(rate, f"({now_ms - round(quota.window_s * 1000)}", "+inf")
            pipe.zcount(leases, f"({now_ms}", "+inf")
            pipe.zcount(waiting, f"({now_ms}", "+inf")
            in_window, in_flight, interactive_waiting = await pipe.execute()
        return QuotaUsage(int(in_window), int(in_flight), int(interactive_waiting))

    async def release(self, permit: Permit) -> None:
        quota = self._quotas.get(permit.agency)
        if quota is None or not quota.concurrency:
            return
        # If Redis is away the lease expires by itself; until then the slot stays counted (never over).
        with contextlib.suppress(RedisError):
            await self._redis.zrem(self._keys(permit.agency)[1], permit.token)

    async def aclose(self) -> None:
        await self._redis.aclose()
