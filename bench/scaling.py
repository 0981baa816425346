"""Scaling: hub throughput as one process, as ``uvicorn --workers 2`` (what ``hedui serve --workers 2``
runs) and as two single-worker processes behind a round-robin balancer (the load generator), against one
fresh PostgreSQL database (docs/architecture.md §10: hub processes are stateless; replay cache and rate limits are
shared through the database).

On a 2-core machine a second hub process can only use what the load generator, the agencies and PostgreSQL
leave over; the CPU columns show where the cores went.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from bench._paths import HubPath
from bench._population import bench_households
from bench._stack import Deployment, Stack, hub_stack, measured
from bench.harness import Column, cpu_ms_per_request, print_table, ratio

NAME = "scaling"
DESCRIPTION = "hub throughput: 1 process, uvicorn --workers 2, 2 processes round-robin (PostgreSQL)"
DEPLOYMENTS = (Deployment(processes=1), Deployment(workers=2), Deployment(processes=2))
# Processes matter when the hub is CPU-bound: agencies answering at once, and enough requests in flight to
# keep one process saturated (the --concurrency values from this one up).
AGENCY_LATENCY_MS = 0.0
MIN_CONCURRENCY = 16


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    as_of = date.today()
    households = bench_households(args.households, as_of)
    concurrencies = [c for c in args.concurrency if c >= MIN_CONCURRENCY] or [max(args.concurrency)]
    rows: list[dict[str, Any]] = []
    async with hub_stack(households=args.households, as_of=as_of, database_kind="postgres") as stack:
        await stack.agencies.set_latency(AGENCY_LATENCY_MS)
        for deployment in DEPLOYMENTS:
            await stack.deploy(deployment)
            hub = HubPath(stack.setup, stack.base_urls, households)
            try:
                for concurrency in concurrencies:
                    ceiling, _ = await measured(
                        hub.healthz, count=args.requests * 4, concurrency=concurrency, duration_s=1.0
                    )
                    row = await _cell(stack, hub, args, concurrency)
                    rows.append(
                        {
                            "deployment": deployment.label,
                            "processes": deployment.processes,
                            "workers": deployment.workers,
                            "agency_latency_ms": AGENCY_LATENCY_MS,
                            "healthz_rps": ceiling.summary()["throughput_rps"],
                            **row,
                        }
                    )
            finally:
                await hub.aclose()
    for row in rows:
        single = next(
            r for r in rows if r["deployment"] == DEPLOYMENTS[0].label and r["concurrency"] == row["concurrency"]
        )
        row["speedup"] = ratio(row["throughput_rps"], single["throughput_rps"])
        row["hub_cpu_ms"] = cpu_ms_per_request(row["cpu_hub_pct"], row["throughput_rps"])
    _print(rows)
    return rows


async def _cell(stack: Stack, hub: HubPath, args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    await hub.authorize()
    hub.seal_requests(2 * concurrency)
    await measured(hub.call, count=2 * concurrency, concurrency=concurrency, duration_s=5)
    hub.seal_requests(args.requests)
    result, cpu = await measured(
        hub.call, count=args.requests, concurrency=concurrency, duration_s=args.duration, watch=stack.watch()
    )
    failures = await hub.check_answers()
    return {"concurrency": concurrency, **result.summary(), "error_codes": {**result.error_codes, **failures}, **cpu}


def _print(rows: list[dict[str, Any]]) -> None:
    print_table(
        f"Scaling on PostgreSQL, agencies at {AGENCY_LATENCY_MS:.0f} ms; CPU in % of one core (machine ceiling "
        "200%; oth = anything else on the machine)",
        [
            Column("deployment", "hub deployment"),
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
            print(f"failures, {row['deployment']}, concurrency {row['concurrency']}: {row['error_codes']}")
