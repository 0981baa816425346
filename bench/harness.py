"""Shared benchmark code: the closed-loop load generator, percentiles, plain-text tables, JSON results and
the facts about the machine that every result file carries.

The statistics and the table are pure functions (tested in tests/unit/bench/test_harness.py); the load
generator and the writers are the I/O edge.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path("var/bench")


# -- statistics (pure) -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``values``, interpolating linearly between the closest ranks.

    This is Hyndman & Fan's definition 7 (numpy's default, ``statistics.quantiles(method="inclusive")``):
    p0 is the minimum, p100 the maximum, and the median of an even count is the mean of the middle two.
    """
    if not values:
        raise ValueError("the percentile of no values is undefined")
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is unknown or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def cpu_ms_per_request(cpu_pct: float | None, throughput_rps: float | int | None) -> float | None:
    """CPU milliseconds per request from a CPU share (percent of one core) and a throughput: robust to other
    work on the machine in a way that throughput and latency are not."""
    if cpu_pct is None or not throughput_rps:
        return None
    return cpu_pct * 10 / throughput_rps


def summarize(latencies_s: Sequence[float], errors: int, elapsed_s: float) -> dict[str, float | int | None]:
    """Throughput and latency percentiles (milliseconds) of one measured run; percentiles cover successes."""

    def ms(q: float) -> float | None:
        return percentile(latencies_s, q) * 1000 if latencies_s else None

    return {
        "requests": len(latencies_s),
        "errors": errors,
        "elapsed_s": elapsed_s,
        "throughput_rps": len(latencies_s) / elapsed_s if elapsed_s > 0 else 0.0,
        "p50_ms": ms(50),
        "p95_ms": ms(95),
        "p99_ms": ms(99),
        "max_ms": ms(100),
    }


# -- tables (pure) ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: the row key it shows, its header and a format spec for numbers (``format()``)."""

    key: str
    header: str
    spec: str = ""


def render_table(title: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table: numbers right-aligned and formatted with the column's spec, text left-aligned,
    a missing or None value shown as ``-``."""
    cells = [[_cell(row.get(column.key), column.spec) for column in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(column.key), int | float) for row in rows if row.get(column.key) is not None)
        for column in columns
    ]
    widths = [max([len(column.header), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([title, line([column.header for column in columns]), rule, *(line(c) for c in cells)])


def _cell(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format(value, spec)
    return str(value)


def print_table(title: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> None:
    print()
    print(render_table(title, columns, rows), flush=True)


# -- load generator --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadResult:
    latencies_s: tuple[float, ...]  # one per successful call
    error_codes: Mapping[str, int]  # failure code (HeduiError.code or exception class) -> count
    elapsed_s: float

    @property
    def errors(self) -> int:
        return sum(self.error_codes.values())

    def summary(self) -> dict[str, float | int | None]:
        return summarize(self.latencies_s, self.errors, self.elapsed_s)


async def drive(
    call: Callable[[int], Awaitable[None]], *, count: int, concurrency: int, duration_s: float
) -> LoadResult:
    """Closed-loop load: ``concurrency`` workers make calls ``call(0)``, ``call(1)``, ... back to back until
    ``count`` calls were started or ``duration_s`` has passed; calls already started are waited for.

    A call fails by raising; its ``code`` attribute (the ``gateway.errors`` classes have one) or its class
    name is counted. Latency is measured around each call with the monotonic performance counter.
    """
    issued = 0
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal issued
        while issued < count and time.perf_counter() < deadline:
            index = issued
            issued += 1
            began = time.perf_counter()
            try:
                await call(index)
            except Exception as exc:  # a failed request is a measurement, not a crash of the benchmark
                failures[str(getattr(exc, "code", type(exc).__name__))] += 1
            else:
                latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(tuple(latencies), dict(failures), time.perf_counter() - started)


# -- results ---------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and count, load, memory, Python, OS."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for text in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text(encoding="utf-8").splitlines()[0]  # "MemTotal:  24683712 kB"
        memory_gib = round(int(first.split()[1]) / 1024 / 1024, 1)
    return {
        "cpus": len(os.sched_getaffinity(0)),
        # Other work on the machine skews every number here: the 1-minute load average at the time says how much.
        "load_average_1m": os.getloadavg()[0],
        "cpu_model": model,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_results(
    name: str, rows: Sequence[Mapping[str, Any]], options: Mapping[str, Any], directory: Path = RESULTS_DIR
) -> Path:
    """Write ``<directory>/<name>.json``: the rows, the options of the run and the machine."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    document = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": dict(options),
        "rows": list(rows),
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
