"""The summary of targets (bench/_summary.py): met, not met, or not measured, read from result documents."""

from __future__ import annotations

from typing import Any

from bench._summary import render, targets


def _overhead(database: str, latency: float, concurrency: int, **values: Any) -> dict[str, Any]:
    return {
        "kind": "overhead",
        "database": database,
        "agency_latency_ms": latency,
        "concurrency": concurrency,
        **values,
    }


def _by_target(documents: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["target"]: row for row in targets(documents)}


def _find(rows: dict[str, dict[str, Any]], start: str) -> dict[str, Any]:
    (row,) = [row for target, row in rows.items() if target.startswith(start)]
    return row


def test_nothing_measured_judges_nothing() -> None:
    rows = targets({})
    assert rows
    assert all(row["met"] is None and row["measured"] == "not measured" for row in rows)
    assert {row["issue"] for row in rows} == {12, 14}


def test_throughput_is_met_only_when_every_cell_of_the_database_reaches_half_of_direct() -> None:
    overhead = {
        "rows": [
            _overhead("postgres", 0.0, 16, throughput_ratio=0.55, hub_own_cpu_ms=3.0),
            _overhead("postgres", 0.0, 64, throughput_ratio=0.49, hub_own_cpu_ms=3.4),
            _overhead("postgres", 50.0, 16, throughput_ratio=0.1),  # not a 0 ms cell: not judged
            _overhead("sqlite", 0.0, 16, throughput_ratio=0.6),
            _overhead("sqlite", 0.0, 64, throughput_ratio=0.5),
        ]
    }
    rows = _by_target({"overhead": overhead})
    postgres = _find(rows, "throughput >= 0.5 of direct, 0 ms agencies, conc 16 and 64, PostgreSQL")
    assert postgres["met"] is False
    assert postgres["measured"] == "conc 16: 0.55, conc 64: 0.49"
    assert _find(rows, "throughput >= 0.5 of direct, 0 ms agencies, conc 16 and 64, SQLite")["met"] is True
    assert _find(rows, "hub own CPU")["met"] is True


def test_rows_without_a_database_are_postgresql_ones() -> None:
    row = _overhead("postgres", 0.0, 16, throughput_ratio=0.7)
    del row["database"]
    rows = _by_target({"overhead": {"rows": [row]}})
    assert _find(rows, "throughput >= 0.5 of direct, 0 ms agencies, conc 16 and 64, PostgreSQL")["met"] is True
    assert _find(rows, "throughput >= 0.5 of direct, 0 ms agencies, conc 16 and 64, SQLite")["met"] is None


def test_added_latency_round_trips_and_connections() -> None:
    overhead = {
        "rows": [
            _overhead(
                "postgres", 0.0, 1, added_p50_ms=4.9, hub_db_verification_transactions=3.0,
                hub_db_new_connections_per_verification=0.0,
            ),
            _overhead(
                "postgres", 50.0, 1, added_p50_ms=5.1, hub_db_verification_transactions=2.5,
                hub_db_new_connections_per_verification=0.01,
            ),
        ]
    }  # fmt: skip
    rows = _by_target({"overhead": overhead})
    assert _find(rows, "p50 added")["met"] is False  # 5.1 ms at 50 ms
    assert _find(rows, "<= 3 DB round trips")["met"] is True
    assert _find(rows, "zero new DB connections")["met"] is False


def test_fanout_has_a_limit_per_concurrency() -> None:
    fanout = {
        "rows": [
            {"concurrency": 1, "hub_over_slowest": 1.3, "hub_p50_ms": 65.0, "slowest_agency_p50_ms": 50.0},
            {"concurrency": 16, "hub_over_slowest": 1.3, "hub_p50_ms": 65.0, "slowest_agency_p50_ms": 50.0},
        ]
    }
    rows = _by_target({"fanout": fanout})
    assert _find(rows, "fan-out p50 <= 1.2x")["met"] is False
    assert _find(rows, "fan-out p50 <= 1.5x")["met"] is True


def test_audit_is_judged_at_a_million_entries_on_postgresql_only() -> None:
    audit = {
        "rows": [
            {"backend": "postgres", "entries": 1_000_000, "appends_per_s": 12_000.0, "inclusion_p99_ms": 6.0},
            {"backend": "postgres", "entries": 10_000, "appends_per_s": 1.0, "inclusion_p99_ms": 1.0},
            {"backend": "sqlite", "entries": 1_000_000, "appends_per_s": 1.0, "inclusion_p99_ms": 1.0},
        ]
    }
    rows = _by_target({"audit_log": audit})
    assert _find(rows, "audit: >= 10,000 appends/s")["met"] is True
    assert _find(rows, "audit: inclusion proof")["met"] is False


def test_a_shortened_soak_reports_growth_without_judging_it() -> None:
    def soak(seconds: float, last_mb: float) -> dict[str, Any]:
        return {"rows": [{"elapsed_s": 10.0, "rss_mb": 200.0}, {"elapsed_s": seconds, "rss_mb": last_mb}]}

    short = _by_target({"soak": soak(30.0, 201.0)})
    assert _find(short, "hub RSS <= 250 MB")["met"] is True
    assert _find(short, "hub RSS flat")["met"] is None
    assert "shortened" in _find(short, "hub RSS flat")["measured"]
    full = _by_target({"soak": soak(600.0, 215.0)})  # +7.5%
    assert _find(full, "hub RSS flat")["met"] is False
    assert _find(_by_target({"soak": soak(600.0, 260.0)}), "hub RSS <= 250 MB")["met"] is False


def test_batch_targets_hold_for_every_configuration() -> None:
    batch = {
        "rows": [
            {"queue": "database", "workers": 1, "quota_use_min": 0.97, "p50_ratio": 1.1, "items_per_s": 48.0},
            {"queue": "nats", "workers": 2, "quota_use_min": 0.94, "p50_ratio": 1.19, "items_per_s": 47.0},
        ]
    }
    rows = _by_target({"batch": batch})
    assert _find(rows, "batch: achieved/allowed")["met"] is False
    assert _find(rows, "batch: achieved/allowed")["measured"] == "database x1: 0.97, nats x2: 0.94"
    assert _find(rows, "batch: front-desk p50")["met"] is True
    assert _find(rows, "batch: items/s")["met"] is None


def test_a_value_missing_from_a_measured_cell_is_not_met() -> None:
    batch = {"rows": [{"queue": "nats", "workers": 1, "quota_use_min": None, "p50_ratio": 1.0}]}
    assert _find(_by_target({"batch": batch}), "batch: achieved/allowed")["met"] is False


def test_a_failed_configuration_is_shown_and_not_met() -> None:
    batch = {"rows": [{"queue": "database", "workers": 2, "items": 2000, "error": "a worker exited"}]}
    row = _find(_by_target({"batch": batch}), "batch: front-desk p50")
    assert row["measured"] == "database x2 failed: -"
    assert row["met"] is False


def test_render_counts_the_targets_met() -> None:
    fanout = {"rows": [{"concurrency": 1, "hub_over_slowest": 1.1, "hub_p50_ms": 55.0, "slowest_agency_p50_ms": 50.0}]}
    text = render({"fanout": fanout})
    assert text.splitlines()[0].startswith("Targets (issue 12, issue 14): 1 of 1 met")
    assert "NO" not in text


def test_the_profile_is_reported_with_its_largest_parts() -> None:
    profile = {
        "rows": [
            {"table": "summary", "what": "hub CPU ms per verification", "share": 100.0, "ms": 8.0},
            {"table": "parts", "what": "database", "share": 40.0, "ms": 3.2},
            {"table": "parts", "what": "envelope", "share": 20.0, "ms": 1.6},
        ]
    }
    row = _find(_by_target({"profile": profile}), "profile")
    assert row["measured"] == "8.00 ms, of which database 3.20, envelope 1.60"
    assert row["met"] is None
    failed = _find(_by_target({"profile": {"rows": [{"table": "error", "what": "Permission denied"}]}}), "profile")
    assert failed["measured"] == "no profile: Permission denied"


def test_scaling_is_reported_per_deployment() -> None:
    scaling = {
        "rows": [
            {"deployment": "1 process", "concurrency": 16, "throughput_rps": 58.4, "speedup": 1.0},
            {"deployment": "1 process", "concurrency": 64, "throughput_rps": 84.8, "speedup": 1.0},
            {"deployment": "uvicorn --workers 2", "concurrency": 16, "throughput_rps": 86.3, "speedup": 1.48},
            {"deployment": "uvicorn --workers 2", "concurrency": 64, "throughput_rps": 77.3, "speedup": 0.91},
        ]
    }
    row = _find(_by_target({"scaling": scaling}), "1 vs 2 hub workers")
    assert row["measured"] == "1 process: 58/s, 85/s; uvicorn --workers 2: 86/s x1.48, 77/s x0.91; conc 16/64"
    assert row["met"] is None
