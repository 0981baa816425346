"""The cost of federation: the same verifications with tax and banking answered in-process by the hub's
adapters, then through their agencies' edge nodes (each its own process, with envelopes both ways, the
attestation signed by the edge and checked by the hub, the facts stored encrypted), in one run.

The hub, the five simulated agencies and the load generator share this process (a ``hedui sandbox``);
hub CPU is this process's, edge CPU the edge processes'. Both are per verification.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench._stack import cpu_seconds
from bench.harness import Column, drive, print_table
from gateway.client import HubClient
from gateway.sandbox import Sandbox

NAME = "federation"
DESCRIPTION = "tax and banking in-process against behind edge nodes: throughput, p50/p99, CPU per verification"
EDGES = ("tax", "banking")
_CONCURRENCIES = (1, 16)


async def _measure(box: Sandbox, concurrency: int, count: int, duration_s: float) -> dict[str, Any]:
    document = json.loads(box.sandbox_json.read_text(encoding="utf-8"))
    chosen = next(s for s in document["scenarios"] if s["name"] == "clearly_eligible")
    edge_pids = box.edge_pids()

    async with HubClient.from_sandbox(box.sandbox_json) as client:

        async def call(_: int) -> None:
            body = {
                "case_id": f"110101-bench-{uuid.uuid4().hex[:12]}",
                "purpose": chosen["purpose"],
                "region": chosen["region"],
                "operator": "bench",
                "household": chosen["household"],
            }
            report = await client.verify(body)
            if report["status"] != "complete":
                raise RuntimeError("partial")

        await drive(call, count=concurrency * 2, concurrency=concurrency, duration_s=duration_s)  # warm-up
        hub_before = sum(cpu_seconds(os.getpid(), descendants=False).values())
        edges_before = sum(sum(cpu_seconds(pid).values()) for pid in edge_pids)
        result = await drive(call, count=count, concurrency=concurrency, duration_s=duration_s)
        hub_cpu = sum(cpu_seconds(os.getpid(), descendants=False).values()) - hub_before
        edges_cpu = sum(sum(cpu_seconds(pid).values()) for pid in edge_pids) - edges_before
    summary = result.summary()
    done = max(len(result.latencies_s), 1)
    return {
        "concurrency": concurrency,
        "rps": summary.get("throughput_rps"),
        "p50_ms": summary.get("p50_ms"),
        "p99_ms": summary.get("p99_ms"),
        "errors": result.errors,
        "hub_cpu_ms": hub_cpu * 1000 / done,
        "edges_cpu_ms": edges_cpu * 1000 / done if edge_pids else None,
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hedui-bench-federation-") as directory:
        for mode, edges in (("in-process", ()), ("edges", EDGES)):
            box = Sandbox(data_dir=Path(directory) / mode, port=0, households=args.households, edges=edges)
            await box.start()
            try:
                for concurrency in _CONCURRENCIES:
                    row = await _measure(box, concurrency, min(args.requests, 400), args.duration)
                    rows.append({"mode": mode, **row})
            finally:
                await box.stop()
    print_table(
        "Cost of federation: tax and banking in-process vs behind edge nodes",
        [
            Column("mode", "mode", "s"),
            Column("concurrency", "conc", "d"),
            Column("rps", "verif/s", ".1f"),
            Column("p50_ms", "p50 ms", ".1f"),
            Column("p99_ms", "p99 ms", ".1f"),
            Column("hub_cpu_ms", "hub CPU ms/verif", ".1f"),
            Column("edges_cpu_ms", "edges CPU ms/verif", ".1f"),
            Column("errors", "errors", "d"),
        ],
        rows,
    )
    return rows
