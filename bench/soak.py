"""Soak: the hub under steady load for a while (default 10 minutes at concurrency 16, PostgreSQL, agencies at
0 ms); its resident memory (RSS of the hub process and its workers) sampled after every interval. Target
(issue 12): RSS <= 250 MB and flat, under 5% growth from the first sample (after warm-up) to the last.

``python -m bench soak -- --seconds 600 --concurrency 16 --interval 10 [--database sqlite]``; a shorter
``--seconds`` gives a shortened soak (say so when quoting it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench._paths import HubPath
from bench._population import bench_households
from bench._stack import hub_stack
from bench.harness import RESULTS_DIR, Column, drive, print_table, write_results

NAME = "soak"
DESCRIPTION = "hub RSS under steady load (10 minutes at concurrency 16 by default; --seconds for shorter)"
_RSS_TARGET_MB = 250.0
_GROWTH_TARGET_PCT = 5.0


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its live descendants (uvicorn's workers), in MiB, from /proc."""
    total_kib = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kib += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        pending += [int(child) for child in children]
    return total_kib / 1024


async def soak(args: argparse.Namespace) -> list[dict[str, Any]]:
    as_of = date.today()
    households = bench_households(args.households, as_of)
    rows: list[dict[str, Any]] = []
    async with hub_stack(households=args.households, as_of=as_of, database_kind=args.database) as stack:
        hub = HubPath(stack.setup, stack.base_urls, households)
        try:
            started = time.monotonic()
            done = 0
            while time.monotonic() - started < args.seconds:
                await hub.authorize()  # tokens live 5 minutes
                hub.seal_requests(args.per_interval)
                result = await drive(
                    hub.call, count=args.per_interval, concurrency=args.concurrency, duration_s=args.interval
                )
                done += len(result.latencies_s)
                rows.append(
                    {
                        "elapsed_s": round(time.monotonic() - started, 1),
                        "verifications": done,
                        "errors": result.errors,
                        "throughput_rps": result.summary()["throughput_rps"],
                        "rss_mb": sum(rss_mb(process.pid) for process in stack.hubs),
                    }
                )
        finally:
            await hub.aclose()
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to soak (default 600)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    parser.add_argument("--per-interval", type=int, default=2000, help="most verifications per interval")
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args, _ = parser.parse_known_args(argv)  # options meant for other benchmarks of the same run
    rows = asyncio.run(soak(args))
    print_table(
        f"Soak: hub RSS at concurrency {args.concurrency}, {args.database}, agencies at 0 ms",
        [
            Column("elapsed_s", "s", ".0f"),
            Column("verifications", "verifications"),
            Column("errors", "err"),
            Column("throughput_rps", "verif/s", ".1f"),
            Column("rss_mb", "hub RSS MiB", ".1f"),
        ],
        rows,
    )
    if len(rows) >= 2:
        first, last = rows[0]["rss_mb"], rows[-1]["rss_mb"]
        peak = max(row["rss_mb"] for row in rows)
        growth = 100 * (last - first) / first if first else 0.0
        met = peak <= _RSS_TARGET_MB and growth < _GROWTH_TARGET_PCT
        print(
            f"RSS first {first:.1f} MiB, last {last:.1f} MiB, peak {peak:.1f} MiB, growth {growth:+.1f}% over "
            f"{rows[-1]['elapsed_s']:.0f} s (target <= {_RSS_TARGET_MB:.0f} MiB, < {_GROWTH_TARGET_PCT:.0f}%): "
            f"{'met' if met else 'not met'}"
        )
    write_results(NAME, rows, vars(args) | {"out": str(args.out)}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
