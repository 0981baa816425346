"""Agency quotas shared by every hub process (docs/architecture.md §7, §10): a per-agency rate limit
(requests per second) and concurrency limit, with interactive requests served before batch ones.

One interface, two implementations checked by the same conformance test
(tests/integration/broker/quota/test_conformance.py):

* :class:`MemoryQuotaLimiter`, the embedded default: the limits hold for this process only;
* :class:`RedisQuotaLimiter` (``HEDUI_REDIS_URL``): the limits hold for every process sharing the Redis
  server, decided atomically by one Lua script on the server's own clock, so N replicas and batch workers
  together never exceed an agency's quota.

The rate limit is a sliding window: in any window of ``window_s`` (1 s) at most ``rate_per_s * window_s``
requests are admitted, which is what an agency's "N queries per second" means; a token bucket would let
twice that through across a refill. Concurrency is a set of leases that expire (a crashed process cannot
keep an agency's slots). ``Priority.BATCH`` requests leave a reserve of the rate and of the slots to
interactive ones and do not start while an interactive request for the same agency is waiting. Interactive
requests admitted in the window count against their reserve of the rate, so that batch and interactive
requests together can use the whole quota (with the reserve held back whatever happened, a front desk
asking once a second cost the batch one request of every window, and the quota was never used beyond
``1 - reserve``: 0.83 of an agency granting 6 requests/s).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.broker.quota._memory import MemoryQuotaLimiter
from gateway.broker.quota._model import AgencyQuota, Permit, Priority, QuotaLimiter, QuotaUsage
from gateway.broker.quota._redis import RedisQuotaLimiter

__all__ = [
    "AgencyQuota",
    "MemoryQuotaLimiter",
    "Permit",
    "Priority",
    "QuotaLimiter",
    "QuotaUsage",
    "RedisQuotaLimiter",
    "open_limiter",
]


def open_limiter(
    quotas: Mapping[str, AgencyQuota], redis_url: str | None = None, namespace: str = "hedui"
) -> QuotaLimiter:
    """The shared Redis limiter when ``redis_url`` is set, else the in-process one."""
    if redis_url:
        return RedisQuotaLimiter(redis_url, quotas, namespace=namespace)
    return MemoryQuotaLimiter(quotas)
