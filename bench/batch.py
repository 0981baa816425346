"""Batch: bulk re-verification of >= 2,000 households against agencies with quotas, on the database queue
and on NATS JetStream, with one and two ``hedui worker`` processes.

For each configuration: items/s, each agency's achieved request rate over its quota (target >= 0.95), and
the front desk's p50/p99 (sequential interactive verifications) idle and while the batch runs (target p50
ratio <= 1.2). The hub (with its in-process limiter and the simulated agencies) is a sandbox; the workers
are separate processes sharing the quotas through Redis (``HEDUI_REDIS_URL``) when that is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from adapters.testkit.faults import FaultSettings
from bench.harness import Column, percentile, print_table, write_results
from gateway.batch import NatsQueue
from gateway.batch.sample import REVIEW_PURPOSE, enrolled_households, review_request
from gateway.broker import discover_adapters
from gateway.client import HubClient
from gateway.consent.seed import register_household_consents
from gateway.errors import HeduiError
from gateway.sandbox import SANDBOX_MEMBERS, Sandbox

NAME = "batch"
DESCRIPTION = "bulk re-verification: items/s, agency quota use, front-desk latency with and without a batch"
HEDUI = str(Path(sys.executable).with_name("hedui"))
REGION = "110101"
DESK_INTERVAL_S = 1.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench batch", description=__doc__)
    parser.add_argument("--items", type=int, default=2000, help="households in the batch (default 2000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=6.0,
        help="each agency's quota in verifications/s (default 6; hukou and housing "
        "make two requests per verification, so their quota in requests/s is twice that)",
    )
    parser.add_argument("--agency-latency-ms", type=float, default=20.0, help="simulated agency latency")
    parser.add_argument("--queues", default="database,nats", help="queues to measure (default database,nats)")
    parser.add_argument("--workers", default="1,2", help="worker process counts (default 1,2)")
    parser.add_argument("--concurrency", type=int, default=6, help="items in flight per worker (default 6)")
    parser.add_argument("--front-desk", type=int, default=30, help="interactive verifications measured idle")
    parser.add_argument("--nats", default=os.environ.get("HEDUI_QUEUE_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--redis", default=os.environ.get("HEDUI_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("HEDUI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        help="server on which each run gets a database of its own ('' for the sandbox's SQLite file)",
    )
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    rows = asyncio.run(_run(args))
    columns = [
        Column("queue", "queue"),
        Column("workers", "workers"),
        Column("items", "items"),
        Column("items_per_s", "items/s", ".1f"),
        Column("quota_use_min", "achieved/allowed (min)", ".2f"),
        Column("quota_use", "per agency"),
        Column("idle_p50_ms", "front p50 idle ms", ".1f"),
        Column("busy_p50_ms", "front p50 batch ms", ".1f"),
        Column("p50_ratio", "p50 ratio", ".2f"),
        Column("idle_p99_ms", "front p99 idle ms", ".1f"),
        Column("busy_p99_ms", "front p99 batch ms", ".1f"),
        Column("partial", "partial reports"),
        Column("desk_errors", "desk errors"),
    ]
    title = f"Batch of {args.items} households; each agency's quota {args.rate:g} verifications/s"
    print_table(title, columns, rows)
    print(f"results: {write_results(NAME, rows, {k: str(v) for k, v in vars(args).items()}, args.out)}")
    return 0


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for queue in args.queues.split(","):
        rows.extend(await _queue_rows(args, queue))
    return rows


def _quota_settings(args: argparse.Namespace) -> dict[str, Any]:
    quotas = {name: {"rate_per_s": args.rate * calls} for name, calls in _calls_per_verification().items()}
    return {"agency_quotas": quotas, "redis_url": args.redis}


def _calls_per_verification() -> dict[str, int]:
    """Requests each adapter makes per verification (what its quota counts)."""
    return {name: getattr(adapter, "calls_per_fetch", 1) for name, adapter in discover_adapters().items()}


async def _queue_rows(args: argparse.Namespace, queue: str) -> list[dict[str, Any]]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    households_needed = args.items * 4 + 300  # three regions; some enrolled already
    database_url = await _fresh_postgres(args.postgres) if args.postgres else None
    box = Sandbox(
        data_dir=Path(tempfile.mkdtemp(prefix="hedui-bench-batch-")),
        port=0,
        households=households_needed,
        faults={
            n: FaultSettings(latency_ms=args.agency_latency_ms)
            for n in ("hukou", "civil_affairs", "tax", "housing", "banking")
        },
        queue_url=args.nats if queue == "nats" else "database",
        hub_settings={
            "queue_name": name,
            "batch_workers": 0,
            **_quota_settings(args),
            **({"database_url": database_url} if database_url else {}),
        },
    )
    await box.start()
    rows = []
    try:
        assert box.population is not None
        mis = await box.hub.members.get(str(SANDBOX_MEMBERS["mis"]["id"]))
        enrolled = {h.household_id for h in enrolled_households(box.population)}  # consented by the sandbox
        households = [
            h
            for h in box.population.households
            if h.region == REGION and h.scenario is None and h.household_id not in enrolled
        ]
        households = households[: args.items]
        await register_household_consents(box.hub.consents, households, purpose=REVIEW_PURPOSE, mis=mis)
        items = [review_request(h, f"{REGION}-bench-{i:06d}") for i, h in enumerate(households)]
        scenario = next(
            s for s in json.loads(box.sandbox_json.read_text())["scenarios"] if s["name"] == "clearly_eligible"
        )
        async with HubClient.from_sandbox(box.sandbox_json) as client:
            idle = await _front_desk(client, scenario, [], count=args.front_desk)
            for workers in [int(w) for w in args.workers.split(",")]:
                row = await _one_batch(args, box, client, scenario, items, workers)
                rows.append({"queue": queue, "workers": workers, "items": len(items), **row, **_latency(idle, row)})
                print({k: v for k, v in rows[-1].items() if k != "quota_use"}, flush=True)
    finally:
        await box.stop()
        if queue == "nats":
            leftover = await NatsQueue.connect(args.nats, name=name)
            await leftover.delete_streams()
            await leftover.aclose()
    return rows


async def _front_desk(
    client: HubClient,
    scenario: dict[str, Any],
    errors: list[str],
    *,
    count: int | None = None,
    until: asyncio.Event | None = None,
) -> list[float]:
    """Interactive verifications one at a time, one per ``DESK_INTERVAL_S`` (a clerk at the front desk, not a
    load test: the desk takes a small share of each quota); their latencies in ms."""
    latencies: list[float] = []
    while (count is not None and len(latencies) < count) or (until is not None and not until.is_set()):
        if latencies:
            await asyncio.sleep(max(0.0, DESK_INTERVAL_S - latencies[-1] / 1000))
        body = {
            "case_id": f"{REGION}-desk-{uuid.uuid4().hex[:8]}",
            "purpose": scenario["purpose"],
            "region": scenario["region"],
            "operator": "desk-01",
            "household": scenario["household"],
        }
        started = time.perf_counter()
        try:
            await client.verify(body)
        except HeduiError as exc:  # counted, and shown: a refused or failed desk request is a result too
            errors.append(exc.code)
            await asyncio.sleep(DESK_INTERVAL_S)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _one_batch(
    args: argparse.Namespace,
    box: Sandbox,
    client: HubClient,
    scenario: dict[str, Any],
    items: list[dict[str, Any]],
    workers: int,
) -> dict[str, Any]:
    environment = {**os.environ, **box.worker_environment(), **_quota_environment(box)}
    processes = [
        await asyncio.create_subprocess_exec(
            HEDUI,
            "worker",
            "--concurrency",
            str(args.concurrency),
            env=environment,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        await asyncio.sleep(3.0)  # let the workers connect before the clock starts
        before = {name: agency.faults.total_requests for name, agency in box.agencies.items()}
        started = time.perf_counter()
        created = await client.submit_batch(f"bench-{uuid.uuid4().hex[:8]}", REVIEW_PURPOSE, items, close=True)
        finished = asyncio.Event()
        desk_errors: list[str] = []
        desk = asyncio.create_task(_front_desk(client, scenario, desk_errors, until=finished))
        while not (await client.batch_status(created["batch_id"]))["finished"]:  # noqa: ASYNC110 (polls the API)
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        finished.set()
        busy = await desk
        after = {name: agency.faults.total_requests for name, agency in box.agencies.items()}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await process.wait()
    # Each verification, batch or front desk, makes ``calls`` requests to an agency (hukou and housing two):
    # the desk's share comes off, and the rest is measured against the quota in requests/s.
    calls = _calls_per_verification()
    desk_verifications = len(busy)
    use = {
        name: (after[name] - before[name] - desk_verifications * calls.get(name, 1))
        / elapsed
        / (args.rate * calls.get(name, 1))
        for name in sorted(after)
    }
    status = await client.batch_status(created["batch_id"])
    return {
        "items_per_s": status["counts"]["done"] / elapsed,
        "done": status["counts"]["done"],
        "failed": status["counts"]["failed"],
        "elapsed_s": elapsed,
        "quota_use_min": min(use.values()),
        "quota_use": " ".join(f"{name[:5]}={value:.2f}" for name, value in use.items()),
        "busy": busy,
        "desk_errors": len(desk_errors),
        "partial": status["outcomes"].get("partial", 0),
    }


async def _fresh_postgres(admin_url: str) -> str:
    """A new, migrated database on the server of ``admin_url`` (left for inspection; drop it by hand)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from gateway.store.database import migrate_async

    name = f"hedui_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url)
    connection = await asyncpg.connect(admin.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = admin.set(database=name).render_as_string(hide_password=False)
    await migrate_async(url)
    return url


def _quota_environment(box: Sandbox) -> dict[str, str]:
    settings = box.hub.settings.model_dump()
    environment = {}
    for field in ("agency_quotas", "redis_url"):
        if field in settings and settings[field] is not None:
            value = settings[field]
            environment[f"HEDUI_{field.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
    return environment


def _latency(idle: list[float], row: dict[str, Any]) -> dict[str, Any]:
    busy = row.pop("busy")
    idle_p50, busy_p50 = percentile(idle, 50), percentile(busy, 50)
    return {
        "idle_p50_ms": idle_p50,
        "busy_p50_ms": busy_p50,
        "p50_ratio": busy_p50 / idle_p50,
        "idle_p99_ms": percentile(idle, 99),
        "busy_p99_ms": percentile(busy, 99),
        "front_desk_samples": len(busy),
    }
