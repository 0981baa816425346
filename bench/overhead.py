"""Overhead: the same verifications of the same households (a) directly against the five simulated agencies
and (b) through the hub, at each agency latency and client concurrency; throughput, p50/p95/p99 and the
ratios (b)/(a). Also the load generator's ceiling against the hub's trivial ``/healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench._paths import DirectPath, HubPath
from bench._population import bench_households
from bench._stack import Stack, hub_stack, measured
from bench.harness import Column, LoadResult, cpu_ms_per_request, print_table, ratio

NAME = "overhead"
DESCRIPTION = "hub vs direct point-to-point calls: throughput, latency percentiles, ratios"
_SEAL_HEADROOM = 2.0  # pre-seal twice what the direct path managed in the same time, within --requests


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every cell on each database of ``--database`` in turn (a list; one name still works); each row says
    which (``database``)."""
    databases = [args.database] if isinstance(args.database, str) else list(args.database)
    rows: list[dict[str, Any]] = []
    for database in databases:
        measured_rows = await _run_on(args, database)
        rows += [{"database": database, **row} for row in measured_rows]
        _print(measured_rows, database)
    return rows


async def _run_on(args: argparse.Namespace, database: str) -> list[dict[str, Any]]:
    as_of = date.today()
    households = bench_households(args.households, as_of)
    rows: list[dict[str, Any]] = []
    async with hub_stack(households=args.households, as_of=as_of, database_kind=database) as stack:
        direct = DirectPath(stack.agencies.urls, households, as_of)
        hub = HubPath(stack.setup, stack.base_urls, households)
        try:
            rows += await generator_ceiling(stack, hub, args)
            background = await background_transactions_per_s(stack.setup.settings_env["HEDUI_DATABASE_URL"])
            for latency_ms in args.latency:
                await stack.agencies.set_latency(latency_ms)
                for concurrency in args.concurrency:
                    rows.append(await _cell(stack, direct, hub, args, latency_ms, concurrency, background))
        finally:
            await hub.aclose()
            await direct.aclose()
    return rows


async def generator_ceiling(stack: Stack, hub: HubPath, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The generator against the hub's trivial ``/healthz``: no verification can be measured faster."""
    rows = []
    for concurrency in args.concurrency:
        result, cpu = await measured(
            hub.healthz,
            count=args.requests * 4,
            concurrency=concurrency,
            duration_s=min(args.duration, 2.0),
            watch=stack.watch(),
        )
        rows.append({"kind": "generator_ceiling", "concurrency": concurrency, **result.summary(), **cpu})
    return rows


async def background_transactions_per_s(url: str, seconds: float = 4.0) -> float | None:
    """The transactions the idle hub commits by itself per second (misuse detection's rounds, the abandoned
    sweeper, checkpoints; None on SQLite), so that a cell's count can be taken net of them: at concurrency 1
    they are a tenth of a transaction per verification, on no verification's path."""
    started = time.monotonic()
    before = await postgres_counters(url)
    await asyncio.sleep(seconds)
    after = await postgres_counters(url, settle=True)
    if before is None or after is None:
        return None
    return max(after["transactions"] - before["transactions"] - 1, 0.0) / (time.monotonic() - started)


async def _cell(
    stack: Stack,
    direct: DirectPath,
    hub: HubPath,
    args: argparse.Namespace,
    latency_ms: float,
    concurrency: int,
    background_per_s: float | None,
) -> dict[str, Any]:
    warm_up = max(2 * concurrency, 10)
    watch = stack.watch()
    await measured(direct.call, count=warm_up, concurrency=concurrency, duration_s=args.duration, watch=watch)
    direct_result, direct_cpu = await measured(
        direct.call, count=args.requests, concurrency=concurrency, duration_s=args.duration, watch=watch
    )

    await hub.authorize()
    hub.seal_requests(warm_up)
    await measured(hub.call, count=warm_up, concurrency=concurrency, duration_s=args.duration, watch=watch)
    direct_summary = direct_result.summary()
    budget = int(float(direct_summary["throughput_rps"] or 0.0) * args.duration * _SEAL_HEADROOM)
    sealed = min(args.requests, max(budget, 4 * concurrency, 100))
    hub.seal_requests(sealed)
    database_url = stack.setup.settings_env["HEDUI_DATABASE_URL"]
    counted_from = time.monotonic()
    before = await postgres_counters(database_url)
    hub_result, hub_cpu = await measured(
        hub.call, count=sealed, concurrency=concurrency, duration_s=args.duration, watch=watch
    )
    after = await postgres_counters(database_url, settle=True)
    background = None if background_per_s is None else background_per_s * (time.monotonic() - counted_from)
    answer_failures = await hub.check_answers()
    hub_summary = hub_result.summary()
    direct_rps, hub_rps = direct_summary["throughput_rps"], hub_summary["throughput_rps"]
    return {
        "kind": "overhead",
        "agency_latency_ms": latency_ms,
        "concurrency": concurrency,
        **_prefixed("direct", direct_result, direct_cpu),
        **_prefixed("hub", hub_result, hub_cpu),
        "hub_answer_failures": answer_failures,
        "throughput_ratio": ratio(hub_summary["throughput_rps"], direct_summary["throughput_rps"]),
        "p50_ratio": ratio(hub_summary["p50_ms"], direct_summary["p50_ms"]),
        "p99_ratio": ratio(hub_summary["p99_ms"], direct_summary["p99_ms"]),
        "added_p50_ms": _difference(hub_summary["p50_ms"], direct_summary["p50_ms"]),
        # CPU per verification: (a) the client does the adapters' work; (b) the hub does it, and more.
        "direct_client_cpu_ms": cpu_ms_per_request(direct_cpu["cpu_generator_pct"], direct_rps),
        "direct_agencies_cpu_ms": cpu_ms_per_request(direct_cpu["cpu_agencies_pct"], direct_rps),
        "hub_client_cpu_ms": cpu_ms_per_request(hub_cpu["cpu_generator_pct"], hub_rps),
        "hub_hub_cpu_ms": cpu_ms_per_request(hub_cpu["cpu_hub_pct"], hub_rps),
        "hub_postgres_cpu_ms": cpu_ms_per_request(hub_cpu.get("cpu_postgres_pct"), hub_rps),
        "hub_agencies_cpu_ms": cpu_ms_per_request(hub_cpu["cpu_agencies_pct"], hub_rps),
        # The hub's own CPU: what it spends beyond what the direct client spends on the same adapters.
        "hub_own_cpu_ms": _difference(
            cpu_ms_per_request(hub_cpu["cpu_hub_pct"], hub_rps),
            cpu_ms_per_request(direct_cpu["cpu_generator_pct"], direct_rps),
        ),
        **_per_verification(before, after, len(hub_result.latencies_s) + hub_result.errors, background),
    }


async def postgres_counters(url: str, *, settle: bool = False) -> dict[str, float] | None:
    """PostgreSQL's counters of the hub's database (None on SQLite): transactions and sessions opened. With
    ``settle``, first wait for the backends to report (they flush their statistics at most once a second)."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    if settle:
        await asyncio.sleep(1.2)
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        row = await connection.fetchrow(
            "SELECT xact_commit + xact_rollback AS transactions, sessions"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    assert row is not None
    return {"transactions": float(row["transactions"]), "sessions": float(row["sessions"])}


def _per_verification(
    before: dict[str, float] | None, after: dict[str, float] | None, verifications: int, background: float | None
) -> dict[str, float | None]:
    """Database transactions and new connections per verification (the counting connection itself left out:
    one session and its transaction), and the transactions net of the idle hub's ``background`` ones over the
    same span."""
    if before is None or after is None or not verifications:
        return {
            "hub_db_transactions_per_verification": None,
            "hub_db_verification_transactions": None,
            "hub_db_new_connections_per_verification": None,
        }
    transactions = after["transactions"] - before["transactions"] - 1
    return {
        "hub_db_transactions_per_verification": transactions / verifications,
        "hub_db_verification_transactions": None
        if background is None
        else max(transactions - background, 0.0) / verifications,
        "hub_db_new_connections_per_verification": (after["sessions"] - before["sessions"] - 1) / verifications,
    }


def _prefixed(prefix: str, result: LoadResult, cpu: dict[str, float]) -> dict[str, Any]:
    summary: dict[str, Any] = {**result.summary(), **cpu, "error_codes": dict(result.error_codes)}
    return {f"{prefix}_{key}": value for key, value in summary.items()}


def _difference(a: float | int | None, b: float | int | None) -> float | None:
    return None if a is None or b is None else a - b


def _print(rows: list[dict[str, Any]], database: str) -> None:
    ceiling = [row for row in rows if row["kind"] == "generator_ceiling"]
    cells = [row for row in rows if row["kind"] == "overhead"]
    print_table(
        "Load generator ceiling: GET /healthz of the hub (requests/s; the bound on anything measured below)",
        [
            Column("concurrency", "conc"),
            Column("throughput_rps", "req/s", ",.0f"),
            Column("p50_ms", "p50 ms", ".2f"),
            Column("p99_ms", "p99 ms", ".2f"),
            Column("cpu_generator_pct", "gen cpu%", ".0f"),
            Column("cpu_hub_pct", "hub cpu%", ".0f"),
            Column("cpu_other_pct", "other%", ".0f"),
        ],
        ceiling,
    )
    print_table(
        f"Overhead: verifications/s, direct (a) vs hub (b), hub on {database}; CPU in % of one core "
        "(gen = load generator, agy = agencies, pg = PostgreSQL, oth = anything else on the machine)",
        [
            Column("agency_latency_ms", "agency ms", ".0f"),
            Column("concurrency", "conc"),
            Column("direct_throughput_rps", "(a) req/s", ",.1f"),
            Column("hub_throughput_rps", "(b) req/s", ",.1f"),
            Column("throughput_ratio", "(b)/(a)", ".2f"),
            Column("direct_requests", "(a) n"),
            Column("hub_requests", "(b) n"),
            Column("hub_errors", "(b) err"),
            Column("direct_cpu_generator_pct", "(a) gen%", ".0f"),
            Column("direct_cpu_agencies_pct", "(a) agy%", ".0f"),
            Column("hub_cpu_generator_pct", "(b) gen%", ".0f"),
            Column("hub_cpu_hub_pct", "(b) hub%", ".0f"),
            Column("hub_cpu_agencies_pct", "(b) agy%", ".0f"),
            Column("hub_cpu_postgres_pct", "(b) pg%", ".0f"),
            Column("direct_cpu_other_pct", "(a) oth%", ".0f"),
            Column("hub_cpu_other_pct", "(b) oth%", ".0f"),
        ],
        cells,
    )
    print_table(
        "Overhead: latency in ms, direct (a) vs hub (b)",
        [
            Column("agency_latency_ms", "agency ms", ".0f"),
            Column("concurrency", "conc"),
            Column("direct_p50_ms", "(a) p50", ".1f"),
            Column("direct_p95_ms", "(a) p95", ".1f"),
            Column("direct_p99_ms", "(a) p99", ".1f"),
            Column("hub_p50_ms", "(b) p50", ".1f"),
            Column("hub_p95_ms", "(b) p95", ".1f"),
            Column("hub_p99_ms", "(b) p99", ".1f"),
            Column("added_p50_ms", "added p50", "+.1f"),
            Column("p50_ratio", "p50 (b)/(a)", ".2f"),
            Column("p99_ratio", "p99 (b)/(a)", ".2f"),
        ],
        cells,
    )
    print_table(
        "Overhead: CPU ms per verification (robust to other load on the machine): (a) the client calls the "
        "adapters itself; (b) the hub does, plus envelope, token, database and report",
        [
            Column("agency_latency_ms", "agency ms", ".0f"),
            Column("concurrency", "conc"),
            Column("direct_client_cpu_ms", "(a) client", ".2f"),
            Column("direct_agencies_cpu_ms", "(a) agencies", ".2f"),
            Column("hub_client_cpu_ms", "(b) client", ".2f"),
            Column("hub_hub_cpu_ms", "(b) hub", ".2f"),
            Column("hub_postgres_cpu_ms", "(b) postgres", ".2f"),
            Column("hub_agencies_cpu_ms", "(b) agencies", ".2f"),
            Column("hub_own_cpu_ms", "hub own", ".2f"),
            Column("hub_db_transactions_per_verification", "db xacts", ".2f"),
            Column("hub_db_verification_transactions", "net", ".2f"),
            Column("hub_db_new_connections_per_verification", "new conns", ".3f"),
        ],
        cells,
    )
    for row in cells:
        for path, codes in (
            ("direct", row["direct_error_codes"]),
            ("hub", row["hub_error_codes"]),
            ("hub answers", row["hub_answer_failures"]),
        ):
            if codes:
                print(
                    f"{path} failures at agency {row['agency_latency_ms']:.0f} ms, conc {row['concurrency']}: {codes}"
                )
