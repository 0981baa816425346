"""Serving: ``hedui serve --workers 2`` (uvicorn's own process manager) against gunicorn managing two
uvicorn workers (``gunicorn -k uvicorn.workers.UvicornWorker -w 2``), same hub, same PostgreSQL database,
same agencies, same JSON logs; the choice is recorded in docs/decisions.md (Operations).

    python -m bench serving --concurrency 16,64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

from bench._paths import HubPath
from bench._population import bench_households
from bench._stack import (
    AgencyProcess,
    CpuWatch,
    HubProcess,
    HubSetup,
    free_ports,
    measured,
    postgres_database,
    prepare_hub,
)
from bench.harness import Column, cpu_ms_per_request, print_table

NAME = "serving"
DESCRIPTION = "hedui serve --workers 2 (uvicorn) vs gunicorn with 2 uvicorn workers (PostgreSQL)"
WORKERS = 2
AGENCY_LATENCY_MS = 0.0


def _commands(port: int) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    return {
        f"hedui serve --workers {WORKERS}": [str(bin_dir / "hedui"), "serve", f"--port={port}", f"--workers={WORKERS}"],
        f"gunicorn -w {WORKERS} -k UvicornWorker": [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class=uvicorn.workers.UvicornWorker",
            f"--workers={WORKERS}",
            f"--bind=127.0.0.1:{port}",
            "--graceful-timeout=30",
            "gateway.app:create_app()",
        ],
    }


@contextlib.asynccontextmanager
async def _server(setup: HubSetup, command: list[str], port: int, log: Path) -> AsyncIterator[HubProcess]:
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **setup.settings_env, "HEDUI_PUBLIC_URL": base_url, "HEDUI_LOG_JSON": "true"}
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(*command, env=env, stdout=sink, stderr=sink)
        hub = HubProcess(process, base_url)
        try:
            await hub._wait_until_ready()
            yield hub
        finally:
            await hub.stop()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    as_of = date.today()
    households = bench_households(args.households, as_of)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hedui-bench-") as temporary:
        directory = Path(temporary)
        agencies = await AgencyProcess.start(args.households, as_of)
        try:
            async with postgres_database() as url:
                setup = await prepare_hub(directory, url, agencies.urls, households)
                await agencies.set_latency(AGENCY_LATENCY_MS)
                port = free_ports(1)[0]
                for label, command in _commands(port).items():
                    async with _server(setup, command, port, directory / "server.log") as server:
                        hub = HubPath(setup, [server.base_url], households)
                        watch = CpuWatch(
                            {"generator": (os.getpid(),), "hub": (server.pid,), "agencies": (agencies.pid,)},
                            postgres=True,
                        )
                        try:
                            for concurrency in args.concurrency:
                                rows.append({"server": label, **await _cell(hub, args, concurrency, watch)})
                        finally:
                            await hub.aclose()
        finally:
            await agencies.stop()
    for row in rows:
        row["hub_cpu_ms"] = cpu_ms_per_request(row["cpu_hub_pct"], row["throughput_rps"])
    _print(rows)
    return rows


async def _cell(hub: HubPath, args: argparse.Namespace, concurrency: int, watch: CpuWatch) -> dict[str, Any]:
    ceiling, _ = await measured(hub.healthz, count=args.requests * 4, concurrency=concurrency, duration_s=1.0)
    await hub.authorize()
    hub.seal_requests(2 * concurrency)
    await measured(hub.call, count=2 * concurrency, concurrency=concurrency, duration_s=5)  # warm-up
    hub.seal_requests(args.requests)
    result, cpu = await measured(
        hub.call, count=args.requests, concurrency=concurrency, duration_s=args.duration, watch=watch
    )
    failures = await hub.check_answers()
    return {
        "concurrency": concurrency,
        "healthz_rps": ceiling.summary()["throughput_rps"],
        **result.summary(),
        "error_codes": {**result.error_codes, **failures},
        **cpu,
    }


def _print(rows: list[dict[str, Any]]) -> None:
    print_table(
        f"Serving on PostgreSQL, agencies at {AGENCY_LATENCY_MS:.0f} ms; CPU in % of one core (machine ceiling 200%)",
        [
            Column("server", "server"),
            Column("concurrency", "conc"),
            Column("healthz_rps", "healthz/s", ",.0f"),
            Column("throughput_rps", "verif/s", ",.1f"),
            Column("p50_ms", "p50 ms", ".1f"),
            Column("p95_ms", "p95 ms", ".1f"),
            Column("p99_ms", "p99 ms", ".1f"),
            Column("errors", "err"),
            Column("hub_cpu_ms", "hub CPU ms/verif", ".2f"),
            Column("cpu_hub_pct", "hub%", ".0f"),
            Column("cpu_postgres_pct", "pg%", ".0f"),
            Column("cpu_other_pct", "oth%", ".0f"),
        ],
        rows,
    )
    for row in rows:
        if row["error_codes"]:
            print(f"failures, {row['server']}, concurrency {row['concurrency']}: {row['error_codes']}")
