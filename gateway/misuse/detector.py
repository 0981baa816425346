"""The misuse detector: audit entries in, alerts out. Pure and synchronous; time is the entries' own (and
``tick``'s argument), so a generated log drives it exactly as a live one does.

Each rule keeps, per key, the events of its kind within its sliding window; ``threshold`` events raise one
alert naming their leaf indices, and the key's count starts again.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.misuse.rules import MisuseRules, OfficeHours, Rule

_ENDS = ("verification.completed", "verification.rejected", "verification.abandoned")
_LOOKUPS = ("verification.requested", "verification.rejected")
# The entry types any rule counts or ends a pending request with: all a new leader replays to rebuild windows.
COUNTED_TYPES = ("verification.requested", *_ENDS)


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    key: str  # who: "<member> <operator>" or "<member>"
    leaf_indices: tuple[int, ...]
    at: datetime  # the time of the event that completed the count


@dataclass(slots=True)
class _Event:
    at: datetime
    leaf: int
    refs: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Window:
    rule: Rule
    events: defaultdict[str, deque[_Event]] = field(default_factory=lambda: defaultdict(deque))

    def add(self, key: str, event: _Event) -> Alert | None:
        events = self.events[key]
        horizon = event.at - timedelta(seconds=self.rule.window_s)
        while events and events[0].at <= horizon:
            events.popleft()
        events.append(event)
        if len(events) < self.rule.threshold:
            return None
        alert = Alert(self.rule.id, key, tuple(sorted(e.leaf for e in events)), event.at)
        events.clear()
        return alert

    def refs_within(self, key: str, at: datetime) -> set[str]:
        horizon = at - timedelta(seconds=self.rule.window_s)
        return {ref for event in self.events[key] if event.at > horizon for ref in event.refs}


class Detector:
    def __init__(
        self,
        rules: MisuseRules,
        *,
        watch_list: Callable[[], Iterable[str]] = frozenset,
        member_regions: Callable[[], Mapping[str, str | None]] = dict,
    ) -> None:
        self._rules = rules
        self._hours = rules.office_hours
        self._windows = [_Window(rule) for rule in rules.rules]
        self._watch_list = watch_list
        self._member_regions = member_regions
        # no_completion: requests waiting for their end, by verification id
        self._pending: dict[str, tuple[datetime, int, str]] = {}

    def feed(self, leaf: int, entry: Mapping[str, Any]) -> list[Alert]:
        at = _time(entry)
        if at is None:
            return []
        alerts = self.tick(at)
        kind = entry.get("type")
        who = f"{entry.get('actor')} {entry.get('operator') or '-'}"
        refs = frozenset(str(ref) for ref in entry.get("subject_refs", ()))
        if kind in _ENDS and entry.get("verification_id"):
            self._pending.pop(str(entry["verification_id"]), None)
        for window in self._windows:
            event = _Event(at, leaf, refs)
            kind_of_rule = window.rule.kind
            if kind_of_rule == "many_subjects":
                # Unrelated people: a request counts only if it shares nobody with the key's requests in the window.
                if kind != "verification.requested" or not refs or refs & window.refs_within(who, at):
                    continue
                alert = window.add(who, event)
            elif kind_of_rule == "off_hours":
                if kind != "verification.requested" or _in_office_hours(self._hours, at):
                    continue
                alert = window.add(who, event)
            elif kind_of_rule == "consent_refusals":
                if kind != "verification.rejected" or not str(entry.get("reason", "")).startswith("consent_"):
                    continue
                alert = window.add(who, event)
            elif kind_of_rule == "watch_list":
                if kind not in _LOOKUPS or not refs & set(self._watch_list()):
                    continue
                alert = window.add(who, event)
            elif kind_of_rule == "foreign_region":
                member = str(entry.get("actor"))
                region = entry.get("region")
                if kind != "verification.requested" or region is None:
                    continue
                regions = self._member_regions()
                if member not in regions or serves(regions[member], str(region)):
                    continue  # an unknown member cannot be judged here (the hub refuses unknown members anyway)
                alert = window.add(member, event)
            else:  # no_completion: counted in tick() when a request's window has passed without its end
                if kind == "verification.requested" and entry.get("verification_id"):
                    self._pending[str(entry["verification_id"])] = (at, leaf, who)
                continue
            if alert is not None:
                alerts.append(alert)
        return alerts

    @property
    def longest_window_s(self) -> int:
        return max((window.rule.window_s for window in self._windows), default=0)

    def forget_pending(self, leaves: Iterable[int]) -> None:
        """Stop waiting for the requests at ``leaves`` (already counted as not completed, before a rebuild)."""
        counted = set(leaves)
        for verification_id in [vid for vid, (_, leaf, _) in self._pending.items() if leaf in counted]:
            del self._pending[verification_id]

    def tick(self, now: datetime) -> list[Alert]:
        """Count the requests whose end has not come within the no_completion window by ``now``."""
        alerts: list[Alert] = []
        for window in self._windows:
            if window.rule.kind != "no_completion":
                continue
            limit = timedelta(seconds=window.rule.window_s)
            overdue = [(vid, item) for vid, item in self._pending.items() if item[0] + limit < now]
            for verification_id, (at, leaf, who) in sorted(overdue, key=lambda pair: pair[1][1]):
                del self._pending[verification_id]
                alert = window.add(who, _Event(at + limit, leaf))
                if alert is not None:
                    alerts.append(alert)
        return alerts


def serves(member_region: str | None, region: str) -> bool:
    """Whether a member of ``member_region`` serves ``region`` (GB/T 2260: 110000 covers 11xxxx, 110100
    covers 1101xx, 110101 only itself). A member without a region (a national body) serves every region."""
    if not member_region:
        return True
    prefix = member_region
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return region.startswith(prefix)


def _in_office_hours(hours: OfficeHours, at: datetime) -> bool:
    local = at.astimezone(hours.zone)
    return local.isoweekday() in hours.weekdays and hours.opens <= local.time() < hours.closes


def _time(entry: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry["time"]))
    except (KeyError, ValueError):
        return None
