"""Several hub processes append to one log at once: leaf indices never collide or leave gaps, the tree and
every checkpoint stay consistent (docs/architecture.md §10: audit sequencing is correct with several replicas)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.audit import AuditLog, LogKey, log_origin, verify_log
from gateway.audit.models import AuditEntryRow
from gateway.envelope import HubKeys
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from gateway.store.models import Verification
from gateway.store.verifications import Requested, write_requested

# One hub process: waits until its sibling is ready too, then appends in waves and prints its leaf indices.
_HUB_PROCESS = """
import asyncio, json, sys, time, uuid
from pathlib import Path
from gateway.audit import AuditLog, LogKey, VerificationRequested, log_origin
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database

url, key_dir, tag, count, barrier = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])

def entry(number):
    return VerificationRequested(
        actor="CN/GOV/11100000MB0348916Y/dibao", verification_id=str(uuid.uuid4()), case_id=f"{tag}-{number}",
        purpose="dibao.application", region="110101", subject_refs=["ab" * 32], categories=["tax"],
        request_digest="cd" * 32)

async def main():
    database = Database(url)
    log = AuditLog(database, log_key=LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID)),
                   subject_pepper=bytes(32), checkpoint_interval_s=0.05)
    (barrier / tag).touch()
    while len(list(barrier.iterdir())) < 2:
        await asyncio.sleep(0.01)
    indices = []
    for wave in range(0, count, 25):
        indices += await asyncio.gather(*(log.append(entry(n)) for n in range(wave, min(wave + 25, count))))
    await log.aclose()
    await database.dispose()
    print(json.dumps(indices))

asyncio.run(main())
"""


async def case_ids_by_index(database: Database) -> dict[int, str]:
    async with database.session() as session:
        rows = await session.execute(select(AuditEntryRow.leaf_index, AuditEntryRow.entry))
        return {index: json.loads(entry)["case_id"] for index, entry in rows}


def assert_one_log(results: dict[str, list[int]], stored: dict[int, str]) -> None:
    every = sorted(index for indices in results.values() for index in indices)
    assert every == list(range(len(every))), "no index twice, none skipped"
    for tag, indices in results.items():
        assert [stored[index] for index in indices] == [f"{tag}-{number}" for number in range(len(indices))]


async def test_two_hub_instances_with_their_own_engines_share_one_log(
    database_url: str, log_key: LogKey, hub_keys: HubKeys, make_entry: Any
) -> None:
    databases = [Database(database_url), Database(database_url)]
    logs = [
        AuditLog(db, log_key=log_key, subject_pepper=hub_keys.subject_pepper, checkpoint_interval_s=0.02)
        for db in databases
    ]

    async def append_all(log: AuditLog, tag: str) -> list[int]:
        indices: list[int] = []
        for wave in range(0, 150, 30):
            batch = [make_entry(number, case_id=f"{tag}-{number}") for number in range(wave, wave + 30)]
            indices += await asyncio.gather(*(log.append(entry) for entry in batch))
        return indices

    try:
        first, second = await asyncio.gather(append_all(logs[0], "a"), append_all(logs[1], "b"))
    finally:
        for log in logs:
            await log.aclose()
    assert_one_log({"a": first, "b": second}, await case_ids_by_index(databases[0]))
    report = await verify_log(databases[1], log_key.verifier_key())
    assert report.tree_size == 300 and report.checkpoints >= 2
    for db in databases:
        await db.dispose()


async def test_two_hub_processes_append_to_one_log(database_url: str, key_dir: Path, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _HUB_PROCESS,
            database_url,
            str(key_dir),
            tag,
            "400",
            str(barrier),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for tag in ("p", "q")
    ]
    outputs = await asyncio.gather(*(process.communicate() for process in processes))
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()
    results = {tag: json.loads(stdout) for tag, (stdout, _) in zip(("p", "q"), outputs, strict=True)}

    database = Database(database_url)
    try:
        assert_one_log(results, await case_ids_by_index(database))
        report = await verify_log(database, LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID)).verifier_key())
    finally:
        await database.dispose()
    assert report.tree_size == 800 and report.checkpoints >= 2
    # Both processes committed while the other was committing: their indices interleave.
    assert min(results["p"]) < max(results["q"]) and min(results["q"]) < max(results["p"])


async def test_group_commits_with_rows_and_appends_inside_other_transactions_share_one_log(
    database_url: str, log_key: LogKey, hub_keys: HubKeys, make_entry: Any
) -> None:
    """Two replicas: one runs verifications (entries with their rows, grouped by the writer), the other
    changes state in transactions of its own (append_within); the sequence stays one, gap-free and
    verifiable, and every row committed with its entry."""
    databases = [Database(database_url), Database(database_url)]
    logs = [
        AuditLog(db, log_key=log_key, subject_pepper=hub_keys.subject_pepper, checkpoint_interval_s=0.02)
        for db in databases
    ]

    async def verifications(log: AuditLog) -> list[int]:
        async def one(number: int) -> int:
            entry = make_entry(number, case_id=f"v-{number}")
            row = Requested(entry.verification_id, entry.actor, entry.case_id, entry.purpose, entry.region, entry.time)
            return await log.append_all((entry,), alongside=(write_requested, row))

        indices: list[int] = []
        for wave in range(0, 120, 30):
            indices += await asyncio.gather(*(one(number) for number in range(wave, wave + 30)))
        return indices

    async def changes(log: AuditLog, database: Database) -> list[int]:
        async def one(number: int) -> list[int]:
            async with database.session() as session, session.begin():
                return await log.append_within(
                    session, make_entry(number, case_id=f"c-{number}a"), make_entry(number, case_id=f"c-{number}b")
                )

        indices: list[int] = []
        for wave in range(0, 40, 8):
            for pair in await asyncio.gather(*(one(number) for number in range(wave, wave + 8))):
                assert pair[1] == pair[0] + 1  # the entries of one transaction are consecutive
                indices += pair
        return indices

    try:
        grouped, within = await asyncio.gather(verifications(logs[0]), changes(logs[1], databases[1]))
    finally:
        for log in logs:
            await log.aclose()
    stored = await case_ids_by_index(databases[0])
    assert sorted(grouped + within) == list(range(200)) == sorted(stored)
    assert [stored[index] for index in grouped] == [f"v-{number}" for number in range(120)]
    async with databases[0].session() as session:
        rows = dict((await session.execute(select(Verification.case_id, Verification.requested_leaf))).all())
    assert rows == {f"v-{number}": index for number, index in enumerate(grouped)}
    report = await verify_log(databases[1], log_key.verifier_key())
    assert report.tree_size == 200 and report.checkpoints >= 1
    for db in databases:
        await db.dispose()
