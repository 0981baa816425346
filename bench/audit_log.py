"""Audit log: append throughput and proof latency as the log grows, on SQLite and PostgreSQL.

For each database and each log size (10^4, 10^5, 10^6 entries by default) a fresh log is built by
bulk-inserting precomputed entries, subject index rows and every perfect-subtree hash (the same rows appends
write, computed with the same tree math), and a checkpoint is signed. Then, on that log:

* real appends through ``AuditLog.append`` from many concurrent callers, each returning once its entry is
  committed (batched transactions, as in the hub): entries/s and per-append latency;
* real inclusion proofs (random leaf, current tree) and consistency proofs (random older size), each read
  from the stored nodes: latency percentiles.

Entries are built (pydantic validation) before the timed appends; what building one costs, and what its
RFC 8785 canonicalisation (inside ``append``) costs, are reported separately. At 10^4 entries the whole
log is checked with ``verify_log`` afterwards, which also shows the bulk-built rows are what appends write.
Run: ``python -m bench audit_log`` or ``python -m bench.audit_log [--sizes 10000,100000] [--backends sqlite]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench._stack import postgres_database
from bench.harness import RESULTS_DIR, Column, percentile, print_table, write_results
from gateway.audit import AuditLog, LogKey, VerificationRequested, canonical_entry, init_log_key, log_origin, verify_log
from gateway.audit.rfc9162 import Node, append_leaves, leaf_hash
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from gateway.store.database import migrate_async

NAME = "audit_log"
DESCRIPTION = "audit log: append throughput, inclusion/consistency proof latency at 10^4, 10^5, 10^6 entries"
_MIS = "CN/GOV/11100000MB0348916Y/dibao"
_CHUNK = 50_000
_TIME = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def _entry(number: int, refs: int = 2) -> VerificationRequested:
    return VerificationRequested(
        time=_TIME,
        actor=_MIS,
        operator=f"staff-{number % 50:04d}",
        verification_id=str(uuid.UUID(int=number)),
        case_id=f"110101-2026-{number:08d}",
        purpose="dibao.application",
        region="110101",
        subject_refs=[hashlib.sha256(f"person {number + k}".encode()).hexdigest() for k in range(refs)],
        categories=["hukou", "civil_affairs", "tax", "housing", "banking"],
        consent_ids=[str(uuid.UUID(int=number * 7 + k)) for k in range(refs)],
        request_digest=hashlib.sha256(f"request {number}".encode()).hexdigest(),
    )


def _bulk_rows(start: int, end: int) -> tuple[list[tuple[Any, ...]], list[tuple[str, int]], list[bytes]]:
    """Entry rows, subject rows and leaf hashes for leaves [start, end): realistic entries, made by text
    substitution into one canonical entry (building 10^6 pydantic models would take minutes)."""
    template = canonical_entry(_entry(0, refs=1))
    marker = b"110101-2026-00000000"
    entries, subjects, hashes = [], [], []
    for index in range(start, end):
        data = template.replace(marker, f"110101-2026-{index:08d}".encode())
        ref = hashlib.sha256(f"person {index % 200_003}".encode()).hexdigest()
        data = data.replace(hashlib.sha256(b"person 0").hexdigest().encode(), ref.encode())
        entries.append((index, data))
        subjects.append((ref, index))
        hashes.append(leaf_hash(data))
    return entries, subjects, hashes


def _chunks(size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, size, _CHUNK):
        yield start, min(start + _CHUNK, size)


def _build_sqlite(path: Path, size: int) -> None:
    # Plain sqlite3, synchronous=OFF: this is setup, not measurement. Times are stored the way SQLAlchemy's
    # SQLite DateTime stores them.
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    stamp = _TIME.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    frontier: list[tuple[Node, bytes]] = []
    with connection:
        for start, end in _chunks(size):
            entries, subjects, hashes = _bulk_rows(start, end)
            connection.executemany(
                "INSERT INTO audit_entries (leaf_index, entry, entry_type, logged_at, actor, purpose) "
                "VALUES (?, ?, 'verification.requested', ?, ?, 'dibao.application')",
                [(index, data, stamp, _MIS) for index, data in entries],
            )
            connection.executemany("INSERT INTO audit_subjects (subject_ref, leaf_index) VALUES (?, ?)", subjects)
            completed, frontier = append_leaves(frontier, hashes)
            connection.executemany(
                'INSERT INTO audit_nodes (level, "index", hash) VALUES (?, ?, ?)',
                [(node.level, node.index, value) for node, value in completed],
            )
        connection.execute("UPDATE audit_sequencer SET tree_size = ? WHERE id = 1", (size,))
    connection.execute("ANALYZE")
    connection.close()


async def _build_postgres(url: str, size: int) -> None:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    frontier: list[tuple[Node, bytes]] = []
    try:
        async with connection.transaction():
            for start, end in _chunks(size):
                entries, subjects, hashes = _bulk_rows(start, end)
                await connection.copy_records_to_table(
                    "audit_entries",
                    records=[
                        (index, data, "verification.requested", _TIME, _MIS, "dibao.application")
                        for index, data in entries
                    ],
                    columns=["leaf_index", "entry", "entry_type", "logged_at", "actor", "purpose"],
                )
                await connection.copy_records_to_table(
                    "audit_subjects", records=subjects, columns=["subject_ref", "leaf_index"]
                )
                completed, frontier = append_leaves(frontier, hashes)
                await connection.copy_records_to_table(
                    "audit_nodes",
                    records=[(node.level, node.index, value) for node, value in completed],
                    columns=["level", "index", "hash"],
                )
            await connection.execute("UPDATE audit_sequencer SET tree_size = $1 WHERE id = 1", size)
        await connection.execute("ANALYZE")  # what autovacuum would have done on a log grown over time
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _database(backend: str, directory: Path) -> AsyncIterator[str]:
    if backend == "postgres":
        async with postgres_database() as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{directory / 'audit.db'}"


async def _appends(log: AuditLog, entries: list[VerificationRequested], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(entries)

    async def caller() -> None:
        for entry in queue:
            began = time.perf_counter()
            await log.append(entry)
            latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "appends_per_s": len(latencies) / elapsed,
        "append_p50_ms": percentile(latencies, 50) * 1000,
        "append_p99_ms": percentile(latencies, 99) * 1000,
    }


async def _proofs(log: AuditLog, size: int, count: int, vkey: str) -> dict[str, float]:
    rng = random.Random(size)
    inclusion, consistency = [], []
    for _ in range(count):
        leaf = rng.randrange(size)
        began = time.perf_counter()
        proof = await log.inclusion_proof(leaf, size)
        inclusion.append(time.perf_counter() - began)
    proof.verify(vkey)  # the last one, against the checkpoint signed for this size
    for _ in range(max(count // 3, 1)):
        first = rng.randrange(1, size)
        began = time.perf_counter()
        consistency_proof = await log.consistency_proof(first, size)
        consistency.append(time.perf_counter() - began)
    consistency_proof.verify()
    return {
        "inclusion_p50_ms": percentile(inclusion, 50) * 1000,
        "inclusion_p95_ms": percentile(inclusion, 95) * 1000,
        "inclusion_p99_ms": percentile(inclusion, 99) * 1000,
        "consistency_p50_ms": percentile(consistency, 50) * 1000,
        "consistency_p95_ms": percentile(consistency, 95) * 1000,
    }


async def _cell(backend: str, size: int, args: argparse.Namespace, key_dir: Path, work: Path) -> dict[str, Any]:
    log_key = LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID))
    async with _database(backend, work) as url:
        await migrate_async(url)
        began = time.perf_counter()
        if backend == "postgres":
            await _build_postgres(url, size)
        else:
            await asyncio.to_thread(_build_sqlite, work / "audit.db", size)
        build_s = time.perf_counter() - began
        entries = [_entry(size + number) for number in range(args.appends)]
        database = Database(url)
        log = AuditLog(database, log_key=log_key, subject_pepper=bytes(32), checkpoint_interval_s=1.0)
        try:
            await log.checkpoint()
            proofs = await _proofs(log, size, args.proofs, log_key.verifier_key())
            appends = await _appends(log, entries, args.concurrency)
            await log.aclose()
            verified = None
            if size + args.appends <= args.verify_up_to:
                verified = (await verify_log(database, log_key.verifier_key())).tree_size == size + args.appends
        finally:
            await log.aclose()
            await database.dispose()
    return {"backend": backend, "entries": size, "build_s": build_s, **appends, **proofs, "verified": verified}


def _per_entry_costs(count: int = 2000) -> dict[str, float]:
    """Microseconds to build (validate) one entry, and to canonicalise it (RFC 8785, inside append)."""
    began = time.perf_counter()
    entries = [_entry(number) for number in range(count)]
    built = (time.perf_counter() - began) / count
    began = time.perf_counter()
    for entry in entries:
        canonical_entry(entry)
    canonical = (time.perf_counter() - began) / count
    return {"build_entry_us": built * 1e6, "canonical_entry_us": canonical * 1e6}


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hedui-bench-audit-") as temporary:
        key_dir = Path(temporary) / "keys"
        init_log_key(key_dir)
        for backend in args.backends:
            for size in args.sizes:
                work = Path(temporary) / f"{backend}-{size}"
                work.mkdir()
                rows.append(await _cell(backend, size, args, key_dir, work))
                print(f"  {backend} {size}: done", flush=True)
    costs = _per_entry_costs()
    print_table(
        f"audit log: {args.appends} appends from {args.concurrency} concurrent callers, then "
        f"{args.proofs} inclusion and {max(args.proofs // 3, 1)} consistency proofs per cell",
        [
            Column("backend", "database"),
            Column("entries", "log size", ","),
            Column("build_s", "build s", ".1f"),
            Column("appends_per_s", "appends/s", ",.0f"),
            Column("append_p50_ms", "append p50 ms", ".1f"),
            Column("append_p99_ms", "append p99 ms", ".1f"),
            Column("inclusion_p50_ms", "incl p50 ms", ".2f"),
            Column("inclusion_p95_ms", "incl p95 ms", ".2f"),
            Column("inclusion_p99_ms", "incl p99 ms", ".2f"),
            Column("consistency_p50_ms", "cons p50 ms", ".2f"),
            Column("verified", "verify_log"),
        ],
        rows,
    )
    print(
        f"\nper entry, outside the database: building (validation) {costs['build_entry_us']:.0f} us, "
        f"RFC 8785 canonicalisation {costs['canonical_entry_us']:.0f} us"
    )
    return [*rows, {"backend": "none", **costs}]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_log", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(float(part)) for part in text.split(",")],
        default=[10_000, 100_000, 1_000_000],
    )
    parser.add_argument("--backends", type=lambda text: text.split(","), default=["sqlite", "postgres"])
    parser.add_argument("--appends", type=int, default=20_000, help="real appends per cell (default 20000)")
    parser.add_argument("--concurrency", type=int, default=256, help="concurrent appending callers (default 256)")
    parser.add_argument("--proofs", type=int, default=300, help="inclusion proofs per cell (default 300)")
    parser.add_argument("--verify-up-to", type=int, default=50_000, help="run verify_log on logs up to this size")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, _ = _parser().parse_known_args(argv)  # options meant for other benchmarks of the same run
    rows = asyncio.run(_run(args))
    print(f"results: {write_results(NAME, rows, {k: v for k, v in vars(args).items() if k != 'out'}, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
