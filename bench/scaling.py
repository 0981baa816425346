"""Scaling: hub throughput with 1 and 2 uvicorn worker processes against one fresh PostgreSQL database
(DESIGN §10: hub processes are stateless; the replay cache is shared through the database).

On a 2-core machine a second worker can only use what the load generator, the agencies and PostgreSQL
leave over; the CPU columns show where the cores went.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from adapters.testkit.population import Household
from bench._paths import HubPath
from bench._population import bench_households
from bench._stack import Stack, hub_stack, measured
from bench.harness import Column, cpu_ms_per_request, print_table, ratio

NAME = "scaling"
DESCRIPTION = "hub throughput with 1 and 2 worker processes on PostgreSQL"
_WORKERS = (1, 2)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    as_of = date.today()
    households = bench_households(args.households, as_of)
    concurrency = max(args.concurrency)
    rows: list[dict[str, Any]] = []
    async with hub_stack(households=args.households, as_of=as_of, database_kind="postgres") as stack:
        # Alternate the worker counts (1, 2, 1, 2, ...) so that a change in other load on the machine
        # during the run does not fall on one worker count only.
        for latency_ms in args.latency:
            await stack.agencies.set_latency(latency_ms)
            for workers in _WORKERS:
                if stack.workers != workers:
                    await stack.restart_hub(workers=workers)
                rows.append(await _cell(stack, households, args, latency_ms, concurrency))
    for row in rows:
        single = next(r for r in rows if r["workers"] == 1 and r["agency_latency_ms"] == row["agency_latency_ms"])
        row["speedup"] = ratio(row["throughput_rps"], single["throughput_rps"])
        row["hub_cpu_ms"] = cpu_ms_per_request(row["cpu_hub_pct"], row["throughput_rps"])
    _print(rows)
    return rows


async def _cell(
    stack: Stack, households: list[Household], args: argparse.Namespace, latency_ms: float, concurrency: int
) -> dict[str, Any]:
    hub = HubPath(stack.setup, stack.hub.base_url, households)
    try:
        ceiling, _ = await measured(
            hub.healthz, count=args.requests * 4, concurrency=concurrency, duration_s=min(args.duration, 2.0)
        )
        await hub.authorize()
        hub.seal_requests(2 * concurrency)
        await measured(hub.call, count=2 * concurrency, concurrency=concurrency, duration_s=5)
        hub.seal_requests(args.requests)
        result, cpu = await measured(
            hub.call, count=args.requests, concurrency=concurrency, duration_s=args.duration, watch=stack.watch()
        )
        failures = await hub.check_answers()
    finally:
        await hub.aclose()
    return {
        "workers": stack.workers,
        "agency_latency_ms": latency_ms,
        "concurrency": concurrency,
        "healthz_rps": ceiling.summary()["throughput_rps"],
        **result.summary(),
        "error_codes": {**result.error_codes, **failures},
        **cpu,
    }


def _print(rows: list[dict[str, Any]]) -> None:
    print_table(
        "Scaling: hub worker processes on PostgreSQL; CPU in % of one core (machine ceiling 200%; "
        "oth = anything else on the machine)",
        [
            Column("workers", "workers"),
            Column("agency_latency_ms", "agency ms", ".0f"),
            Column("concurrency", "conc"),
            Column("healthz_rps", "healthz/s", ",.0f"),
            Column("throughput_rps", "verif/s", ",.1f"),
            Column("speedup", "speedup", ".2f"),
            Column("p50_ms", "p50 ms", ".1f"),
            Column("p95_ms", "p95 ms", ".1f"),
            Column("p99_ms", "p99 ms", ".1f"),
            Column("errors", "err"),
            Column("hub_cpu_ms", "hub CPU ms/verif", ".2f"),
            Column("cpu_hub_pct", "hub%", ".0f"),
            Column("cpu_postgres_pct", "pg%", ".0f"),
            Column("cpu_agencies_pct", "agy%", ".0f"),
            Column("cpu_generator_pct", "gen%", ".0f"),
            Column("cpu_other_pct", "oth%", ".0f"),
        ],
        rows,
    )
    for row in rows:
        if row["error_codes"]:
            print(
                f"failures with {row['workers']} worker(s) at {row['agency_latency_ms']:.0f} ms: {row['error_codes']}"
            )
