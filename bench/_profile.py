"""Where the hub's CPU goes: sample the hub process with py-spy under benchmark load and attribute the
samples to the parts of the verification path, in milliseconds of CPU per verification.

    .venv/bin/python -m bench._profile --concurrency 16 --seconds 15   # py-spy: in the dev extra

``python -m bench`` runs it shortly as the ``profile`` benchmark (bench/profile.py). Each sample is
attributed to the innermost frame that matches a rule of ``_PARTS``, so a database call made by the consent
check counts as database time; the database time is then split by the gateway function that made the call
and by kind of round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import cast

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench._paths import HubPath
from bench._population import bench_households
from bench._stack import hub_stack, measured
from bench.harness import Column, cpu_ms_per_request, print_table

# (part, substrings of a py-spy frame "function (file:line)"); the first rule matching the innermost frame wins.
_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("consent check (Python)", ("gateway/consent/",)),
    ("audit log (Python)", ("gateway/audit/",)),
    ("policy evaluation", ("gateway/meanstest/policy", "cel/")),
    ("registry duplicate check (Python)", ("gateway/registry/",)),
    ("envelope: open request", ("open_envelope (",)),
    ("envelope: seal report", ("_seal_for (", "seal (gateway/envelope")),
    ("OAuth2 token validation", ("AccessTokenValidator", "require_scope")),
    ("database: SQLAlchemy + driver", ("greenlet_spawn", "sqlalchemy/", "asyncpg/", "aiosqlite/")),
    ("report: JCS digest + at-rest encryption", ("rfc8785", "seal_at_rest")),
    ("indicators + report", ("compose_household", "build_report")),
    ("adapters: SOAP (zeep, lxml)", ("zeep/", "adapters/soap.py", "adapters/civil_affairs", "adapters/banking")),
    ("adapters: tax XML (lxml)", ("adapters/tax",)),
    ("adapters: REST JSON (pydantic)", ("adapters/rest.py", "adapters/hukou", "adapters/housing")),
    ("adapters: aiohttp client", ("aiohttp/",)),
    ("broker: tenacity, gather, breaker", ("gateway/broker", "tenacity")),
    ("request parsing and validation", ("parse_verification_request", "validate_household", "authorize (")),
    ("HTTP server: uvicorn h11, Starlette, FastAPI", ("h11", "starlette/", "fastapi/", "uvicorn/protocols")),
)
_OTHER = "event loop, sockets, other"
_DATABASE = "database: SQLAlchemy + driver"
_ROUND_TRIPS = (
    ("pool_pre_ping: BEGIN, ping, ROLLBACK per checkout", "_async_ping"),
    ("COMMIT (with the ORM flush)", "commit"),
    ("ROLLBACK / reset on return", "rollback"),
    ("BEGIN", "_start_transaction"),
)


def attribute(samples: dict[tuple[str, ...], int]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Samples per part, database samples per calling gateway function, database samples per round trip."""
    parts: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    trips: Counter[str] = Counter()
    for frames, count in samples.items():
        part = next(
            (name for frame in reversed(frames) for name, keys in _PARTS if any(key in frame for key in keys)), _OTHER
        )
        parts[part] += count
        if part != _DATABASE:
            continue
        owners = [frame for frame in frames if "gateway/" in frame and "gateway/store/" not in frame]
        callers[re.sub(r" \(.*\)$", "", owners[-1]) if owners else "(driver callbacks, pool)"] += count
        trip = next((name for name, key in _ROUND_TRIPS if any(key in frame for frame in frames)), "statements")
        trips[trip] += count
    return parts, callers, trips


async def _database_counters(url: str) -> dict[str, float]:
    """PostgreSQL's own counters of the benchmark database: transactions, rows written per table."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            database = await connection.exec_driver_sql(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_returned"
                " FROM pg_stat_database WHERE datname = current_database()"
            )
            names = (
                "transactions committed",
                "transactions rolled back (pool_pre_ping and read-only sessions)",
                "rows inserted",
                "rows updated",
                "rows returned to clients",
            )
            counters = {name: float(value) for name, value in zip(names, database.one(), strict=True)}
            tables = await connection.exec_driver_sql("SELECT relname, n_tup_ins + n_tup_upd FROM pg_stat_user_tables")
            for table, written in cast("list[tuple[str, int]]", tables.all()):
                counters[f"rows written to {table}"] = float(written)
            return counters
    finally:
        await engine.dispose()


def _read_raw(path: Path) -> dict[tuple[str, ...], int]:
    samples: dict[tuple[str, ...], int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            frames = tuple(stack.split(";"))
            samples[frames] = samples.get(frames, 0) + int(count)
    return samples


async def profile(args: argparse.Namespace, py_spy: str) -> list[dict[str, object]]:
    """Profile the hub as the options say, print the tables; their rows (``table``, ``what``, ``share``, ``ms``;
    a ``table`` of ``error`` with py-spy's message when it could not sample)."""
    as_of = date.today()
    households = bench_households(args.households, as_of)
    async with hub_stack(households=args.households, as_of=as_of, database_kind=args.database) as stack:
        await stack.agencies.set_latency(args.latency)
        hub = HubPath(stack.setup, stack.base_urls, households)
        try:
            await hub.authorize()
            hub.seal_requests(4 * args.concurrency)
            await measured(hub.call, count=4 * args.concurrency, concurrency=args.concurrency, duration_s=10)
            hub.seal_requests(args.requests)
            database_url = stack.setup.settings_env["HEDUI_DATABASE_URL"]
            on_postgres = make_url(database_url).get_backend_name() == "postgresql"
            before = await _database_counters(database_url) if on_postgres else {}
            with tempfile.TemporaryDirectory() as temporary:
                raw = Path(temporary) / "hub.txt"
                spy = await asyncio.create_subprocess_exec(
                    py_spy, "record", "--pid", str(stack.hubs[0].pid), "--duration", str(int(args.seconds)),
                    "--rate", "100", "--format", "raw", "--output", str(raw), "--nonblocking",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                result, cpu = await measured(
                    hub.call,
                    count=args.requests,
                    concurrency=args.concurrency,
                    duration_s=args.seconds,
                    watch=stack.watch(),
                )
                _, spy_errors = await spy.communicate()
                samples = _read_raw(raw) if raw.exists() else {}
                if args.keep:
                    shutil.copy(raw, args.keep)
            # The statistics reach pg_stat_* when each backend reports, at most a second after its transaction.
            await asyncio.sleep(1.5)
            after = await _database_counters(database_url) if on_postgres else {}
        finally:
            await hub.aclose()
    summary = result.summary()
    per_verification = cpu_ms_per_request(cpu["cpu_hub_pct"], summary["throughput_rps"]) or 0.0
    print(
        f"{summary['requests']} verifications, {summary['throughput_rps']:.1f}/s, p50 {summary['p50_ms']} ms, "
        f"errors {result.error_codes or 0}; hub CPU {per_verification:.2f} ms per verification; "
        f"other load on the machine {cpu['cpu_other_pct']:.0f}% of a core"
    )
    parts, callers, trips = attribute(samples)
    total = sum(parts.values())
    if not total:
        # py-spy attaches with ptrace: in a container without CAP_SYS_PTRACE (or with kernel.yama.ptrace_scope
        # above 1) it cannot; docs/performance.md ("Profiling the hub") says what to do then.
        message = spy_errors.decode(errors="replace").strip().splitlines()[-1:] or ["no samples"]
        print(f"py-spy could not sample the hub ({message[0]}): no profile")
        return [{"table": "error", "what": message[0], "share": None, "ms": None}]

    def rows(counter: Counter[str]) -> list[dict[str, object]]:
        return [
            {"what": name, "share": 100 * n / total, "ms": per_verification * n / total}
            for name, n in counter.most_common()
        ]

    columns = [Column("what", "what"), Column("share", "% of hub CPU", ".1f"), Column("ms", "ms/verification", ".2f")]
    print_table(
        f"Hub CPU by part of the verification path ({per_verification:.2f} ms per verification, py-spy, "
        f"{args.seconds:g} s at concurrency {args.concurrency}, agencies at {args.latency:g} ms, {args.database})",
        columns,
        rows(parts),
    )
    print_table("Database time by the gateway function that asked", columns, rows(callers))
    print_table("Database time by kind of round trip", columns, rows(trips))
    if after:
        # The warm-up ran before the first reading; the answer checks read nothing from the hub's database.
        count = summary["requests"] or 1
        work = [
            {"what": name, "per": (after[name] - before.get(name, 0.0)) / count}
            for name in after
            if after[name] != before.get(name, 0.0)
        ]
        print_table(
            "PostgreSQL work per verification (pg_stat_database, pg_stat_user_tables)",
            [Column("what", "what"), Column("per", "per verification", ".2f")],
            work,
        )
    return [
        {"table": "summary", "what": "hub CPU ms per verification", "share": 100.0, "ms": per_verification},
        *({"table": "parts", **row} for row in rows(parts)),
        *({"table": "database callers", **row} for row in rows(callers)),
        *({"table": "round trips", **row} for row in rows(trips)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._profile", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.0, help="agency latency in ms")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="also keep py-spy's raw (collapsed-stack) output here")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        sys.exit("py-spy is not installed: .venv/bin/pip install -e '.[dev]'")
    asyncio.run(profile(args, py_spy))


if __name__ == "__main__":
    main()
