"""Batch: bulk re-verification of >= 2,000 households against agencies with quotas, on the database queue
and on NATS JetStream, with one and two ``hedui worker`` processes (issue 14, "Measure").

Every part runs in a process of its own, as deployed: the five simulated agencies (``bench._agencies``), the
hub (uvicorn, PostgreSQL database of its own), and the workers (``hedui worker``); the agencies' quotas
(``HEDUI_AGENCY_QUOTAS``) are shared by the hub and the workers through Redis (``HEDUI_REDIS_URL``, a key
prefix of its own per configuration so every configuration starts with empty windows).

For each configuration: items/s; each agency's achieved request rate over its quota ("achieved/allowed",
target >= 0.95), counted by the agency itself, over the batch's steady state (from 10% to 90% of the items
done: the start-up and the last items' tail are not about the quota) and over the whole batch; and the
front desk's p50/p99 (one clerk, one interactive verification per second) with the workers idle and while
the batch runs (target p50 ratio <= 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from adapters.testkit.population import Household
from bench._population import bench_households, request_body
from bench._stack import AgencyProcess, HubProcess, HubSetup, cpu_seconds, database, free_ports, prepare_hub
from bench.harness import Column, percentile, print_table, write_results
from gateway.batch import NatsQueue
from gateway.batch.sample import REVIEW_PURPOSE, review_request
from gateway.broker import discover_adapters
from gateway.client import HubClient
from gateway.errors import HeduiError

NAME = "batch"
DESCRIPTION = "bulk re-verification: items/s, agency quota use, front-desk latency with and without a batch"
HEDUI = str(Path(sys.executable).with_name("hedui"))
DESK_HOUSEHOLDS = 20
DESK_WARM_UP = 3
DESK_INTERVAL_S = 1.0  # the clerk's pace while the batch runs
IDLE_GAP_S = 0.2  # between idle front-desk verifications (no batch: the pace does not matter)
POLL_S = 0.5
STEADY = (0.10, 0.90)  # the share of items done between which the steady-state rates are measured
TARGET_QUOTA_USE = 0.95
TARGET_P50_RATIO = 1.2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench batch", description=__doc__)
    parser.add_argument("--items", type=int, default=2000, help="households in the batch (default 2000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=40.0,
        help="each agency's quota in verifications/s (default 40: 2,000 items take about 50 s, and about 20 ms "
        "of CPU each leave room on 2 cores; hukou and housing make two requests per verification, so their "
        "quota in requests/s is twice that)",
    )
    parser.add_argument("--agency-latency-ms", type=float, default=20.0, help="simulated agency latency (default 20)")
    parser.add_argument("--queues", default="database,nats", help="queues to measure (default database,nats)")
    parser.add_argument("--workers", default="1,2", help="worker process counts (default 1,2)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="items in flight per worker (default 0: enough for the quota, rate x 0.75 s / workers, at least 8)",
    )
    parser.add_argument("--front-desk", type=int, default=30, help="interactive verifications measured idle")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres", help="hub database")
    parser.add_argument("--nats", default=os.environ.get("HEDUI_QUEUE_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--redis", default=os.environ.get("HEDUI_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--out", type=Path, default=Path("var/bench"))
    return parser


def main(argv: list[str]) -> int:
    args, _ = _parser().parse_known_args(argv)  # options meant for other benchmarks of the same run
    rows = asyncio.run(_run(args))
    _print(args, rows)
    print(f"results: {write_results(NAME, rows, {k: str(v) for k, v in vars(args).items()}, args.out)}")
    return 0


def calls_per_verification() -> dict[str, int]:
    """Requests each adapter makes per verification (what its quota counts)."""
    return {name: getattr(adapter, "calls_per_fetch", 1) for name, adapter in discover_adapters().items()}


def quotas(rate: float, calls: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """``HEDUI_AGENCY_QUOTAS``: ``rate`` verifications/s of every agency, in its requests/s."""
    return {name: {"rate_per_s": rate * count} for name, count in calls.items()}


def worker_concurrency(rate: float, workers: int, asked: int) -> int:
    """Items in flight per worker: ``asked``, or enough for the quota (Little's law: rate x the time an item
    takes, which is the agencies' latency plus the hub's work plus its wait for the quota, under 0.75 s here
    even on a loaded machine; more in flight only wait longer in the limiter)."""
    return asked if asked > 0 else max(8, math.ceil(rate * 0.75 / workers))


def steady_rates(
    samples: Sequence[tuple[float, int, Mapping[str, int]]], items: int, bounds: tuple[float, float] = STEADY
) -> tuple[float, float, dict[str, float]] | None:
    """From ``(time, items done, requests per agency)`` samples: the span (seconds) between the first sample
    with ``bounds[0]`` of the items done and the last with at most ``bounds[1]``, the items/s and each agency's
    requests/s over it (None when the span is empty)."""
    low = next((s for s in samples if s[1] >= bounds[0] * items), None)
    high = next((s for s in reversed(samples) if s[1] <= bounds[1] * items), None)
    if low is None or high is None or high[0] <= low[0]:
        return None
    span = high[0] - low[0]
    return span, (high[1] - low[1]) / span, {name: (high[2][name] - low[2][name]) / span for name in high[2]}


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    as_of = date.today()
    population = args.items * 3 + 600  # the requester's region holds about a third of the households
    households = bench_households(population, as_of)
    if len(households) < DESK_HOUSEHOLDS + args.items:
        raise SystemExit(f"only {len(households)} households of the region; ask for fewer items")
    desk, batch = households[:DESK_HOUSEHOLDS], households[DESK_HOUSEHOLDS : DESK_HOUSEHOLDS + args.items]
    calls = calls_per_verification()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hedui-bench-batch-") as temporary:
        directory = Path(temporary)
        agencies = await AgencyProcess.start(population, as_of)
        try:
            await agencies.set_latency(args.agency_latency_ms)
            async with database(args.database, directory) as url:
                started = time.perf_counter()
                setup = await prepare_hub(
                    directory, url, agencies.urls, [*desk, *batch], purposes=("dibao.application", REVIEW_PURPOSE)
                )
                print(f"consents of {len(desk) + len(batch)} households in {time.perf_counter() - started:.0f} s")
                for queue in args.queues.split(","):
                    for workers in [int(w) for w in args.workers.split(",")]:
                        try:
                            row = await _cell(args, agencies, setup, directory, queue, workers, desk, batch, calls)
                        except Exception as exc:  # a failed configuration is a result; the others still run
                            print(f"batch on {queue} with {workers} worker(s) failed: {exc}", flush=True)
                            row = {"queue": queue, "workers": workers, "items": len(batch), "error": str(exc)}
                        rows.append(row)
                        print({k: v for k, v in row.items() if not isinstance(v, dict)}, flush=True)
        finally:
            await agencies.stop()
    return rows


def _environment(
    args: argparse.Namespace, setup: HubSetup, queue: str, tag: str, calls: Mapping[str, int]
) -> dict[str, str]:
    return {
        **setup.settings_env,
        "HEDUI_QUEUE_URL": args.nats if queue == "nats" else "database",
        "HEDUI_QUEUE_NAME": tag,
        "HEDUI_BATCH_WORKERS": "0",
        "HEDUI_REDIS_URL": args.redis,
        "HEDUI_REDIS_PREFIX": tag,  # fresh quota windows for each configuration
        "HEDUI_AGENCY_QUOTAS": json.dumps(quotas(args.rate, calls)),
        "HEDUI_DB_POOL_SIZE": "4",
    }


async def _cell(
    args: argparse.Namespace,
    agencies: AgencyProcess,
    setup: HubSetup,
    directory: Path,
    queue: str,
    workers: int,
    desk: Sequence[Household],
    batch: Sequence[Household],
    calls: Mapping[str, int],
) -> dict[str, Any]:
    tag = f"bench-{uuid.uuid4().hex[:10]}"
    environment = _environment(args, setup, queue, tag, calls)
    port = free_ports(1)[0]
    public_url = f"http://127.0.0.1:{port}"
    hub = await HubProcess.start(dataclasses.replace(setup, settings_env=environment), port=port, public_url=public_url)
    concurrency = worker_concurrency(args.rate, workers, args.concurrency)
    logs = [directory / f"{tag}-worker-{n}.log" for n in range(workers)]
    processes = []
    busy_task: asyncio.Task[list[float]] | None = None
    client = HubClient(
        public_url, member_id=setup.member_id, private_jwks=setup.member_private_jwks, hub_id=setup.hub_id
    )
    try:
        for log in logs:
            with log.open("wb") as output:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        HEDUI,
                        "worker",
                        "--concurrency",
                        str(concurrency),
                        env={**os.environ, **environment, "HEDUI_PUBLIC_URL": public_url},
                        stdout=output,
                        stderr=output,
                    )
                )
        desk_errors: list[str] = []
        # Unmeasured: the client's access token, the hub's first requests (pools, caches).
        await _front_desk(client, desk, desk_errors, gap_s=IDLE_GAP_S, count=DESK_WARM_UP)
        # Idle: the workers are up (polling their queue), no batch.
        idle = await _front_desk(client, desk, desk_errors, gap_s=IDLE_GAP_S, count=args.front_desk)
        items = [review_request(h, f"110101-review-{tag}-{i:06d}") for i, h in enumerate(batch)]
        pids = {"hub": [hub.pid], "workers": [p.pid for p in processes]}
        cpu_before = {name: _cpu(group) for name, group in pids.items()}
        counts = await agencies.request_counts()
        started = time.perf_counter()
        created = await client.submit_batch(tag, REVIEW_PURPOSE, items, close=True)
        submitted = time.perf_counter() - started
        finished = asyncio.Event()
        desk_times: list[float] = []
        busy_task = asyncio.create_task(
            _front_desk(client, desk, desk_errors, gap_s=DESK_INTERVAL_S, until=finished, times=desk_times)
        )
        samples: list[tuple[float, int, dict[str, int]]] = [(0.0, 0, counts)]
        while True:
            await asyncio.sleep(POLL_S)
            status, now_counts = await asyncio.gather(
                client.batch_status(created["batch_id"]), agencies.request_counts()
            )
            samples.append(
                (
                    time.perf_counter() - started,
                    int(status["counts"]["done"]) + int(status["counts"]["failed"]),
                    now_counts,
                )
            )
            if status["finished"]:
                break
            if any(p.returncode is not None for p in processes):
                tails = [log.read_text(errors="replace").strip().splitlines()[-5:] for log in logs]
                raise RuntimeError(f"a worker exited; the end of its output: {tails}")
        elapsed = time.perf_counter() - started
        finished.set()
        busy = await busy_task
        cpu_after = {name: _cpu(group) for name, group in pids.items()}
    finally:
        if busy_task is not None and not busy_task.done():  # the cell failed: the desk stops with it
            busy_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await busy_task
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            await process.wait()
        await client.aclose()
        await hub.stop()
        if queue == "nats":
            leftover = await NatsQueue.connect(args.nats, name=tag)
            await leftover.delete_streams()
            await leftover.aclose()
    total = len(items)
    row: dict[str, Any] = {
        "queue": queue,
        "workers": workers,
        "worker_concurrency": concurrency,
        "items": total,
        "rate_per_agency": args.rate,
        "done": status["counts"]["done"],
        "failed": status["counts"]["failed"],
        "outcomes": status.get("outcomes", {}),
        "partial": status.get("outcomes", {}).get("partial", 0),
        "elapsed_s": elapsed,
        "submit_s": submitted,
        "items_per_s": status["counts"]["done"] / elapsed,
        "desk_errors": len(desk_errors),
        "desk_error_codes": sorted(set(desk_errors)),
        # CPU milliseconds per item (the desk's few verifications included): what a worker costs.
        **{f"{name}_cpu_ms_per_item": 1000 * (cpu_after[name] - cpu_before[name]) / max(1, total) for name in pids},
    }
    row.update(quota_use(samples, samples[0][2], total, elapsed, calls, args.rate, desk_times))
    row.update(desk_latency(idle, busy))
    return row


def quota_use(
    samples: Sequence[tuple[float, int, Mapping[str, int]]],
    first: Mapping[str, int],
    items: int,
    elapsed: float,
    calls: Mapping[str, int],
    rate: float,
    desk_times: Sequence[float],
) -> dict[str, Any]:
    """Each agency's requests/s over its quota in requests/s: all the hub's requests (batch and front desk:
    what the agency sees of its quota), over the steady state and over the whole batch; and the batch's own
    share of the steady state (the desk's verifications in the span taken off)."""
    last = samples[-1][2]
    whole = {name: (last[name] - first[name]) / elapsed / (rate * calls.get(name, 1)) for name in sorted(last)}
    steady = steady_rates(samples, items)
    result: dict[str, Any] = {"quota_use_whole": whole, "quota_use_whole_min": min(whole.values())}
    if steady is None:
        return result | {"quota_use": None, "quota_use_min": None, "steady_items_per_s": None}
    span, items_per_s, requests_per_s = steady
    low = next(s[0] for s in samples if s[1] >= STEADY[0] * items)
    desk_in_span = sum(1 for t in desk_times if low <= t <= low + span)
    use = {name: requests_per_s[name] / (rate * calls.get(name, 1)) for name in sorted(requests_per_s)}
    batch_only = {
        name: (requests_per_s[name] - desk_in_span * calls.get(name, 1) / span) / (rate * calls.get(name, 1))
        for name in sorted(requests_per_s)
    }
    return result | {
        "steady_span_s": span,
        "steady_items_per_s": items_per_s,
        "quota_use": use,
        "quota_use_min": min(use.values()),
        "batch_quota_use": batch_only,
        "batch_quota_use_min": min(batch_only.values()),
    }


def desk_latency(idle: Sequence[float], busy: Sequence[float]) -> dict[str, Any]:
    if not idle or not busy:
        return {"idle_p50_ms": None, "busy_p50_ms": None, "p50_ratio": None, "front_desk_samples": len(busy)}
    idle_p50, busy_p50 = percentile(idle, 50), percentile(busy, 50)
    return {
        "idle_p50_ms": idle_p50,
        "busy_p50_ms": busy_p50,
        "p50_ratio": busy_p50 / idle_p50,
        "idle_p99_ms": percentile(idle, 99),
        "busy_p99_ms": percentile(busy, 99),
        "front_desk_samples": len(busy),
    }


def _cpu(pids: Sequence[int]) -> float:
    return sum(sum(cpu_seconds(pid).values()) for pid in pids)


async def _front_desk(
    client: HubClient,
    households: Sequence[Household],
    errors: list[str],
    *,
    gap_s: float,
    count: int | None = None,
    until: asyncio.Event | None = None,
    times: list[float] | None = None,
) -> list[float]:
    """Interactive verifications (``dibao.application``, all five agencies) one at a time, one per ``gap_s``
    (a clerk at the front desk, not a load test); their latencies in ms. ``times`` gets when each started."""
    latencies: list[float] = []
    began = time.perf_counter()
    index = 0
    last_s = 0.0
    while (count is not None and len(latencies) < count) or (until is not None and not until.is_set()):
        if index:
            await asyncio.sleep(max(0.0, gap_s - last_s))
        body = request_body(households[index % len(households)], 9_000_000 + index)
        body["case_id"] = f"110101-desk-{uuid.uuid4().hex[:8]}"
        index += 1
        started = time.perf_counter()
        if times is not None:
            times.append(started - began)
        try:
            await client.verify(body)
        except HeduiError as exc:  # counted, and shown: a refused or failed desk request is a result too
            errors.append(exc.code)
            last_s = 0.0
            continue
        last_s = time.perf_counter() - started
        latencies.append(last_s * 1000)
    return latencies


def _print(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row["quota_use_text"] = " ".join(f"{n[:5]}={v:.2f}" for n, v in (row.get("quota_use") or {}).items())
    columns = [
        Column("queue", "queue"),
        Column("workers", "workers"),
        Column("worker_concurrency", "conc/worker"),
        Column("items", "items"),
        Column("items_per_s", "items/s", ".1f"),
        Column("quota_use_min", "achieved/allowed min", ".2f"),
        Column("quota_use_whole_min", "whole run", ".2f"),
        Column("batch_quota_use_min", "batch only", ".2f"),
        Column("quota_use_text", "per agency (steady)"),
        Column("idle_p50_ms", "desk p50 idle", ".1f"),
        Column("busy_p50_ms", "desk p50 batch", ".1f"),
        Column("p50_ratio", "p50 ratio", ".2f"),
        Column("idle_p99_ms", "desk p99 idle", ".1f"),
        Column("busy_p99_ms", "desk p99 batch", ".1f"),
        Column("partial", "partial"),
        Column("failed", "failed"),
        Column("desk_errors", "desk err"),
        Column("workers_cpu_ms_per_item", "worker CPU ms/item", ".1f"),
    ]
    title = (
        f"Batch of {args.items} households; each agency's quota {args.rate:g} verifications/s, agencies at "
        f"{args.agency_latency_ms:g} ms (targets: achieved/allowed >= {TARGET_QUOTA_USE}, steady state "
        f"{STEADY[0]:.0%}-{STEADY[1]:.0%} of items; desk p50 ratio <= {TARGET_P50_RATIO})"
    )
    print_table(title, columns, rows)
    for row in rows:
        del row["quota_use_text"]
        if row.get("desk_error_codes"):
            print(f"front-desk failures, {row['queue']} x {row['workers']}: {row['desk_error_codes']}")
