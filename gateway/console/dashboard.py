"""Dashboard figures from audit entries: verifications per day by purpose and by region, agency latency and
error rates, consent refusals per day, recommendations. Pure: entries in, numbers out."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

DASHBOARD_TYPES = ("verification.requested", "verification.completed", "verification.rejected", "source.queried")


@dataclass
class Figures:
    days: list[str]
    per_day_by_purpose: dict[str, list[int]] = field(default_factory=dict)
    by_region: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, float] = field(default_factory=dict)
    error_rate: dict[str, float] = field(default_factory=dict)
    refusals_per_day: list[int] = field(default_factory=list)
    recommendations: Counter[str] = field(default_factory=Counter)


def figures(entries: Iterable[dict[str, Any]], *, today: date, days: int) -> Figures:
    labels = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    position = {label: i for i, label in enumerate(labels)}
    result = Figures(days=labels, refusals_per_day=[0] * days)
    per_purpose: defaultdict[str, list[int]] = defaultdict(lambda: [0] * days)
    latencies: defaultdict[str, list[int]] = defaultdict(list)
    calls: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for entry in entries:
        day = position.get(str(entry.get("time", ""))[:10])
        if day is None:
            continue
        kind = entry.get("type")
        if kind == "verification.requested":
            per_purpose[str(entry.get("purpose"))][day] += 1
            result.by_region[str(entry.get("region"))] += 1
        elif kind == "verification.completed":
            result.recommendations[str(entry.get("recommendation") or "none")] += 1
        elif kind == "verification.rejected" and str(entry.get("reason", "")).startswith("consent_"):
            result.refusals_per_day[day] += 1
        elif kind == "source.queried":
            source = str(entry.get("source"))
            calls[source] += 1
            if entry.get("outcome") != "ok":
                failures[source] += 1
            if isinstance(entry.get("latency_ms"), int):
                latencies[source].append(entry["latency_ms"])
    result.per_day_by_purpose = dict(sorted(per_purpose.items()))
    result.latency_ms = {source: round(sum(v) / len(v), 1) for source, v in sorted(latencies.items()) if v}
    result.error_rate = {source: round(100 * failures[source] / calls[source], 1) for source in sorted(calls)}
    return result
