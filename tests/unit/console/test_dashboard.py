"""Dashboard figures from audit entries."""

from __future__ import annotations

from datetime import date

from gateway.console.dashboard import figures

DAY = "2026-07-02T10:00:00Z"


def test_figures_count_by_day_purpose_region_source_and_outcome() -> None:
    entries = [
        {"type": "verification.requested", "time": DAY, "purpose": "dibao.application", "region": "110101"},
        {
            "type": "verification.requested",
            "time": "2026-07-01T08:00:00Z",
            "purpose": "tekun.review",
            "region": "510502",
        },
        {"type": "verification.requested", "time": "2026-06-01T08:00:00Z", "purpose": "old", "region": "110101"},
        {"type": "verification.completed", "time": DAY, "recommendation": "eligible"},
        {"type": "verification.rejected", "time": DAY, "reason": "consent_missing"},
        {"type": "verification.rejected", "time": DAY, "reason": "scope_missing"},
        {"type": "source.queried", "time": DAY, "source": "tax", "outcome": "ok", "latency_ms": 10},
        {"type": "source.queried", "time": DAY, "source": "tax", "outcome": "timeout", "latency_ms": 30},
    ]
    result = figures(entries, today=date(2026, 7, 2), days=2)
    assert result.days == ["2026-07-01", "2026-07-02"]
    assert result.per_day_by_purpose == {"dibao.application": [0, 1], "tekun.review": [1, 0]}
    assert dict(result.by_region) == {"110101": 1, "510502": 1}
    assert result.refusals_per_day == [0, 1]
    assert dict(result.recommendations) == {"eligible": 1}
    assert result.latency_ms == {"tax": 20.0}
    assert result.error_rate == {"tax": 50.0}
