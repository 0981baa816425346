"""Fan-out: every agency answers after 50 ms. Asked concurrently, a verification takes about as long as the
slowest agency (~50 ms), not the sum (~250 ms). Reports the hub's p50 against the slowest agency's p50
(each adapter measured alone, at the same concurrency) and against the direct path's concurrent fan-out.
"""

from __future__ import annotations

import argparse
from datetime import date
from functools import partial
from typing import Any

from bench._paths import DirectPath, HubPath
from bench._population import bench_households
from bench._stack import hub_stack, measured
from bench.harness import Column, print_table, ratio

NAME = "fanout"
DESCRIPTION = "five agencies at 50 ms each: hub p50 against the slowest agency"
AGENCY_LATENCY_MS = 50.0
TARGET_RATIO = 1.2
_CONCURRENCIES = (1, 16)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    as_of = date.today()
    households = bench_households(args.households, as_of)
    rows: list[dict[str, Any]] = []
    async with hub_stack(households=args.households, as_of=as_of, database_kind=_first(args.database)) as stack:
        await stack.agencies.set_latency(AGENCY_LATENCY_MS)
        direct = DirectPath(stack.agencies.urls, households, as_of)
        hub = HubPath(stack.setup, stack.base_urls, households)
        watch = stack.watch()
        # Enough calls for stable percentiles at 50 ms per call, within the per-cell time bound.
        count = min(args.requests, 200)
        try:
            for concurrency in _CONCURRENCIES:
                alone: dict[str, float | None] = {}
                for name in direct.adapters:
                    fetch_one = partial(direct.fetch_one, name)
                    await measured(fetch_one, count=concurrency, concurrency=concurrency, duration_s=2)
                    # A p50 needs few calls; a quarter of the cell time per adapter keeps the run short.
                    result, _ = await measured(
                        fetch_one, count=count, concurrency=concurrency, duration_s=min(1.0, args.duration / 4)
                    )
                    alone[name] = result.summary()["p50_ms"]
                direct_result, _ = await measured(
                    direct.call, count=count, concurrency=concurrency, duration_s=args.duration, watch=watch
                )
                await hub.authorize()
                hub.seal_requests(concurrency)
                await measured(hub.call, count=concurrency, concurrency=concurrency, duration_s=2)
                hub.seal_requests(count)
                hub_result, cpu = await measured(
                    hub.call, count=count, concurrency=concurrency, duration_s=args.duration, watch=watch
                )
                failures = await hub.check_answers()
                known = {name: p50 for name, p50 in alone.items() if p50 is not None}
                slowest = max(known.values()) if known else None
                hub_summary = hub_result.summary()
                rows.append(
                    {
                        "concurrency": concurrency,
                        "agency_latency_ms": AGENCY_LATENCY_MS,
                        "slowest_agency": max(known, key=lambda n: known[n]) if known else None,
                        "slowest_agency_p50_ms": slowest,
                        "agencies_sum_p50_ms": sum(known.values()) if known else None,
                        "adapter_p50_ms": alone,
                        "direct_p50_ms": direct_result.summary()["p50_ms"],
                        "hub_p50_ms": hub_summary["p50_ms"],
                        "hub_p95_ms": hub_summary["p95_ms"],
                        "hub_requests": hub_summary["requests"],
                        "hub_errors": hub_result.errors,
                        "hub_error_codes": {**hub_result.error_codes, **failures},
                        "hub_over_slowest": ratio(hub_summary["p50_ms"], slowest),
                        "target_ratio": TARGET_RATIO,
                        **cpu,
                    }
                )
        finally:
            await hub.aclose()
            await direct.aclose()
    _print(rows)
    return rows


def _first(database: str | list[str]) -> str:
    """``--database`` of ``python -m bench`` is a list (overhead measures each); fan-out measures the first."""
    return database if isinstance(database, str) else database[0]


def _print(rows: list[dict[str, Any]]) -> None:
    print_table(
        f"Fan-out: five agencies at {AGENCY_LATENCY_MS:.0f} ms each; p50 in ms (target: hub / slowest <= "
        f"{TARGET_RATIO})",
        [
            Column("concurrency", "conc"),
            Column("slowest_agency", "slowest agency"),
            Column("slowest_agency_p50_ms", "slowest p50", ".1f"),
            Column("agencies_sum_p50_ms", "sum of five p50", ".1f"),
            Column("direct_p50_ms", "direct p50", ".1f"),
            Column("hub_p50_ms", "hub p50", ".1f"),
            Column("hub_p95_ms", "hub p95", ".1f"),
            Column("hub_over_slowest", "hub / slowest", ".2f"),
            Column("hub_errors", "hub err"),
        ],
        rows,
    )
    for row in rows:
        if row["hub_error_codes"]:
            print(f"hub failures at concurrency {row['concurrency']}: {row['hub_error_codes']}")
