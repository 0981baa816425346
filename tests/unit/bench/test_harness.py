"""The pure parts of the benchmark harness: percentiles, ratios, summaries, CPU per request, tables."""

from __future__ import annotations

import random
import statistics

import pytest

from bench.harness import Column, LoadResult, cpu_ms_per_request, percentile, ratio, render_table, summarize


def test_percentile_matches_the_inclusive_quantiles_of_the_standard_library() -> None:
    rng = random.Random(7)
    values = [rng.expovariate(1 / 20) for _ in range(501)]
    cut_points = statistics.quantiles(values, n=100, method="inclusive")  # p1 .. p99
    for q in (1, 25, 50, 90, 95, 99):
        assert percentile(values, q) == pytest.approx(cut_points[q - 1])


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5  # unsorted input; the mean of the middle two
    assert percentile([10.0, 20.0], 25) == 12.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)


def test_percentile_ends_are_the_extremes() -> None:
    values = [3.0, 9.0, 1.0, 7.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 9.0
    assert percentile([42.0], 99) == 42.0


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_refuses_out_of_range_q(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_ratio_is_none_when_unknown_or_undefined() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert ratio(None, 4.0) is None
    assert ratio(3.0, None) is None
    assert ratio(3.0, 0) is None


def test_summarize_reports_throughput_and_percentiles_in_milliseconds() -> None:
    latencies = [0.010, 0.020, 0.030, 0.040]
    summary = summarize(latencies, errors=2, elapsed_s=2.0)
    assert summary["requests"] == 4
    assert summary["errors"] == 2
    assert summary["throughput_rps"] == 2.0  # successes only
    assert summary["p50_ms"] == pytest.approx(25.0)
    assert summary["p99_ms"] == pytest.approx(39.7)
    assert summary["max_ms"] == pytest.approx(40.0)


def test_summarize_without_successes_has_no_percentiles() -> None:
    summary = summarize([], errors=5, elapsed_s=1.0)
    assert summary["throughput_rps"] == 0.0
    assert summary["p50_ms"] is None
    assert summary["p99_ms"] is None


def test_load_result_counts_errors_of_every_code() -> None:
    result = LoadResult(latencies_s=(0.001,), error_codes={"consent_missing": 3, "ClientOSError": 1}, elapsed_s=1.0)
    assert result.errors == 4
    assert result.summary()["errors"] == 4


def test_cpu_per_request_from_a_share_of_one_core() -> None:
    assert cpu_ms_per_request(50.0, 100.0) == 5.0  # half a core at 100 req/s: 5 ms each
    assert cpu_ms_per_request(150.0, 30.0) == 50.0
    assert cpu_ms_per_request(None, 10.0) is None
    assert cpu_ms_per_request(50.0, 0.0) is None


def test_table_aligns_numbers_right_and_text_left() -> None:
    columns = [Column("name", "path"), Column("rps", "req/s", ",.1f"), Column("n", "n")]
    rows = [{"name": "direct", "rps": 1234.56, "n": 7}, {"name": "hub", "rps": 61.0, "n": 1200}]
    assert render_table("Title", columns, rows).splitlines() == [
        "Title",
        "path      req/s     n",
        "------  -------  ----",
        "direct  1,234.6     7",
        "hub        61.0  1200",
    ]


def test_table_shows_missing_values_as_dashes_and_booleans_as_words() -> None:
    columns = [Column("a", "a", ".2f"), Column("ok", "ok"), Column("b", "b")]
    lines = render_table("T", columns, [{"a": None, "ok": True}, {"a": 1.0, "ok": False, "b": "x"}]).splitlines()
    assert lines[3].split() == ["-", "yes", "-"]
    assert lines[4].split() == ["1.00", "no", "x"]


def test_table_widens_columns_to_their_longest_cell() -> None:
    columns = [Column("v", "v")]
    lines = render_table("T", columns, [{"v": 123456}]).splitlines()
    assert lines[1] == "     v"
    assert lines[2] == "------"
