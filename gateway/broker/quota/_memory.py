"""The in-process quota limiter: the embedded default, limits per process (see :mod:`gateway.broker.quota`)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.broker.quota._model import AgencyQuota, Permit, Priority, QuotaUsage

# How long a waiter sleeps at most before it looks again (a release wakes it earlier).
_MAX_POLL_S = 0.05


@dataclass(slots=True)
class _AgencyState:
    quota: AgencyQuota
    admitted: deque[float] = field(default_factory=deque)  # admission times inside the window, oldest first
    interactive: deque[float] = field(default_factory=deque)  # those of interactive requests
    in_flight: int = 0
    interactive_waiting: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryQuotaLimiter:
    """Sliding-window rate and concurrency limits per agency for the tasks of one event loop."""

    def __init__(self, quotas: Mapping[str, AgencyQuota], clock: Callable[[], float] = time.monotonic) -> None:
        self._quotas = dict(quotas)
        self._clock = clock
        self._states: dict[str, _AgencyState] = {}

    def _state(self, agency: str, quota: AgencyQuota) -> _AgencyState:
        state = self._states.get(agency)
        if state is None:
            state = self._states[agency] = _AgencyState(quota)
        return state

    async def acquire(self, agency: str, priority: Priority = Priority.INTERACTIVE, cost: int = 1) -> Permit:
        quota = self._quotas.get(agency)
        if quota is None:
            return Permit(agency, self._clock(), None)
        state = self._state(agency, quota)
        interactive = priority is Priority.INTERACTIVE
        if interactive:
            state.interactive_waiting += 1
        try:
            while True:
                wait = self._try_admit(state, interactive, cost)
                if wait is None:
                    return Permit(agency, state.admitted[-1], self)
                state.changed.clear()
                try:
                    async with asyncio.timeout(min(wait, _MAX_POLL_S)):
                        await state.changed.wait()
                except TimeoutError:
                    pass
        finally:
            if interactive:
                state.interactive_waiting -= 1
                state.changed.set()  # a batch request held back for us may go now

    def _try_admit(self, state: _AgencyState, interactive: bool, cost: int) -> float | None:
        """Admit (and return None) or return how long to wait before trying again."""
        quota = state.quota
        now = self._clock()
        while state.admitted and state.admitted[0] <= now - quota.window_s:
            state.admitted.popleft()
        while state.interactive and state.interactive[0] <= now - quota.window_s:
            state.interactive.popleft()
        rate_cap = quota.window_limit
        slot_cap = quota.concurrency
        if not interactive:
            if state.interactive_waiting:
                return _MAX_POLL_S
            # Interactive requests in the window have used (part of) their reserve: batch ones may fill the rest.
            rate_cap -= max(0, quota.reserve_rate() - len(state.interactive))
            slot_cap -= quota.reserve_slots()
        cost = min(cost, rate_cap)  # a request costlier than the window would never fit
        excess = len(state.admitted) + cost - rate_cap
        if excess > 0:
            return max(state.admitted[excess - 1] + quota.window_s - now, 0.0) or 0.001
        if quota.concurrency and state.in_flight >= slot_cap:
            return _MAX_POLL_S
        state.admitted.extend([now] * cost)
        if interactive:
            state.interactive.extend([now] * cost)
        state.in_flight += 1
        return None

    async def release(self, permit: Permit) -> None:
        state = self._states.get(permit.agency)
        if state is not None:
            state.in_flight -= 1
            state.changed.set()

    async def usage(self, agency: str) -> QuotaUsage:
        state = self._states.get(agency)
        if state is None:
            return QuotaUsage(0, 0, 0)
        horizon = self._clock() - state.quota.window_s
        in_window = sum(1 for admitted in state.admitted if admitted > horizon)
        return QuotaUsage(in_window, state.in_flight, state.interactive_waiting)

    async def aclose(self) -> None:
        return None
