"""The quota interface and its value types (see :mod:`gateway.broker.quota`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from types import TracebackType
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Priority(IntEnum):
    """Who is asking: the front desk (a person waiting) before bulk re-verification."""

    INTERACTIVE = 0
    BATCH = 1


class AgencyQuota(BaseModel):
    """One agency's quota (an element of ``HEDUI_AGENCY_QUOTAS``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_per_s: float = Field(gt=0, le=100_000, description="Requests per second the agency grants the hub")
    concurrency: int = Field(0, ge=0, le=100_000, description="Requests in flight at once; 0 for no limit")
    window_s: float = Field(1.0, gt=0, le=60, description="Length of the sliding window of the rate limit")
    interactive_reserve: float = Field(
        0.05, ge=0, lt=1, description="Share of rate and slots batch requests leave to interactive ones"
    )

    @property
    def window_limit(self) -> int:
        """Requests admitted per window (at least one)."""
        return max(1, math.floor(self.rate_per_s * self.window_s))

    def reserve_rate(self) -> int:
        """Requests per window kept for interactive requests (at least one when there is any reserve)."""
        if not self.interactive_reserve:
            return 0
        return min(self.window_limit - 1, max(1, math.floor(self.window_limit * self.interactive_reserve)))

    def reserve_slots(self) -> int:
        if not self.interactive_reserve or not self.concurrency:
            return 0
        return min(self.concurrency - 1, max(1, math.floor(self.concurrency * self.interactive_reserve)))


@dataclass(slots=True)
class Permit:
    """Leave to send ``cost`` requests to an agency now; hold it while they are in flight.

    ``admitted_at`` is the limiter's clock (seconds) at admission: the Redis server's for the shared
    limiter, so that admissions of different processes compare.
    """

    agency: str
    admitted_at: float
    _limiter: QuotaLimiter | None
    token: str = ""

    async def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            await limiter.release(self)

    async def __aenter__(self) -> Permit:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.release()


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """An agency's quota in use now: requests in the current window, permits in flight, interactive waiters."""

    in_window: int
    in_flight: int
    interactive_waiting: int


class QuotaLimiter(Protocol):
    """Admission to agencies under their quotas. Agencies without a quota are admitted at once."""

    async def acquire(self, agency: str, priority: Priority = Priority.INTERACTIVE, cost: int = 1) -> Permit:
        """Wait until ``cost`` requests to ``agency`` fit its quota, then take them (and one slot).

        Cancel the awaiting task (e.g. with a deadline) to give up; nothing is taken then.
        """
        ...

    async def release(self, permit: Permit) -> None:
        """Give back the concurrency slot of ``permit`` (the rate it used stays used for its window)."""
        ...

    async def usage(self, agency: str) -> QuotaUsage:
        """What ``agency``'s quota is used by now (for throttling displays and tests)."""
        ...

    async def aclose(self) -> None: ...
