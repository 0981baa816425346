"""The audit log service on SQLite and PostgreSQL: durable batched appends, the stored tree, proofs,
checkpoints, search, and the subject access report."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select

from gateway.audit import (
    AuditLog,
    ConsentRevoked,
    LogKey,
    SourceQueried,
    StoredCheckpoint,
    VerificationCompleted,
    Viewer,
    canonical_entry,
    open_checkpoint,
    subject_ref,
)
from gateway.audit.models import AuditEntryRow, AuditNode
from gateway.audit.rfc9162 import leaf_hash, root_hash, verify_consistency, verify_inclusion
from gateway.envelope import HubKeys
from gateway.errors import (
    AuditEntryInvalid,
    AuditUnavailable,
    InvalidIdNumber,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)
from gateway.store import Database

MIS = "CN/GOV/11100000MB0348916Y/dibao"
OTHER_MIS = "CN/GOV/11510502MB76543212/dibao-mis"
AUDITOR = "CN/GOV/11100000MB9876543F/audit"
PEOPLE = ("11010519491231002X", "110101199003071233", "440305198811220047")


async def stored_entries(database: Database) -> list[bytes]:
    async with database.session() as session:
        rows = await session.execute(select(AuditEntryRow.entry).order_by(AuditEntryRow.leaf_index))
        return [bytes(value) for value in rows.scalars()]


async def checkpoint_of_size(log: AuditLog, size: int) -> StoredCheckpoint:
    """The log's latest checkpoint once it has reached ``size`` (checkpoints are signed just after commits).
    Polled with a bound far above the milliseconds this takes, so a loaded machine cannot fail it."""
    for _ in range(1500):
        latest = await log.latest_checkpoint()
        if latest is not None and latest.tree_size >= size:
            assert latest.tree_size == size
            return latest
        await asyncio.sleep(0.02)
    raise AssertionError(f"no checkpoint of size {size} within 30 s")


async def test_appends_return_leaf_indices_once_committed(audit: AuditLog, database: Database, make_entry: Any) -> None:
    entries = [make_entry(number) for number in range(3)]

    indices = [await audit.append(entry) for entry in entries]

    assert indices == [0, 1, 2]
    # Committed: another engine (another hub process) reads them at once.
    other = Database(database.url)
    try:
        assert await stored_entries(other) == [canonical_entry(entry) for entry in entries]
    finally:
        await other.dispose()
    assert await audit.tree_size() == 3


async def test_concurrent_appends_share_transactions(audit: AuditLog, database: Database, make_entry: Any) -> None:
    commits: list[int] = []
    event.listen(database.engine.sync_engine, "commit", lambda _connection: commits.append(1))
    entries = [make_entry(number) for number in range(300)]

    indices = await asyncio.gather(*(audit.append(entry) for entry in entries))

    assert sorted(indices) == list(range(300))
    assert len(commits) < 100, "appends waiting together are committed together"
    stored = await stored_entries(database)
    assert all(stored[index] == canonical_entry(entry) for index, entry in zip(indices, entries, strict=True))


async def test_every_proof_verifies_against_the_recomputed_tree(
    audit: AuditLog, database: Database, make_entry: Any
) -> None:
    for start in range(0, 37, 9):  # several batches, so the tree grows across transactions
        await asyncio.gather(*(audit.append(make_entry(number)) for number in range(start, min(start + 9, 37))))
    leaves = [leaf_hash(entry) for entry in await stored_entries(database)]

    for size in (1, 2, 5, 16, 17, 37):
        root = root_hash(leaves[:size])
        for index in range(size):
            proof = await audit.inclusion_proof(index, size)
            assert (proof.leaf_hash, proof.root_hash) == (leaves[index], root)
            verify_inclusion(index, size, proof.leaf_hash, proof.proof, root)
    for first, second in [(1, 37), (5, 16), (16, 17), (17, 37), (37, 37)]:
        consistency = await audit.consistency_proof(first, second)
        assert (consistency.first_root, consistency.second_root) == (
            root_hash(leaves[:first]),
            root_hash(leaves[:second]),
        )
        verify_consistency(first, second, consistency.first_root, consistency.second_root, consistency.proof)
        consistency.verify()


async def test_proof_requests_outside_the_tree_are_refused(audit: AuditLog, make_entry: Any) -> None:
    await audit.append(make_entry())
    with pytest.raises(NotFound):
        await audit.inclusion_proof(1)
    with pytest.raises(NotFound):
        await audit.inclusion_proof(0, 2)
    with pytest.raises(InvalidInput):
        await audit.consistency_proof(0, 1)
    with pytest.raises(NotFound):
        await audit.consistency_proof(1, 2)


async def test_a_proof_over_a_missing_node_is_a_store_problem_not_a_crash(
    audit: AuditLog, database: Database, make_entry: Any
) -> None:
    await asyncio.gather(*(audit.append(make_entry(number)) for number in range(4)))
    assert (await audit.inclusion_proof(3, 4, with_entry=True)).entry is not None
    async with database.session() as session, session.begin():
        await session.execute(delete(AuditNode).where(AuditNode.level == 1, AuditNode.index == 0))
    with pytest.raises(StoreUnavailable):
        await audit.inclusion_proof(3, 4)
    assert (await audit.inclusion_proof(0, 1)).tree_size == 1  # what is left still proves


async def test_the_first_batch_is_checkpointed_and_the_rest_at_close(
    database: Database, log_key: LogKey, hub_keys: HubKeys, make_entry: Any
) -> None:
    log = AuditLog(database, log_key=log_key, subject_pepper=hub_keys.subject_pepper, checkpoint_interval_s=3600)
    await log.append(make_entry(0))
    first = await checkpoint_of_size(log, 1)  # signed by the writer right after the commit
    for number in range(1, 5):
        await log.append(make_entry(number))
    assert await log.latest_checkpoint() == first  # within the interval: no new checkpoint

    await log.aclose()

    latest = await log.latest_checkpoint()
    assert latest is not None and latest.tree_size == 5
    opened = open_checkpoint(latest.note, log_key.verifier_key())
    assert opened.checkpoint.root_hash == root_hash([leaf_hash(entry) for entry in await stored_entries(database)])
    assert abs(opened.timestamp - latest.signed_at.timestamp()) < 1
    with pytest.raises(AuditUnavailable, match="closed"):
        await log.append(make_entry(9))


async def test_an_idle_log_checkpoints_its_last_entries_within_the_interval(
    database: Database, log_key: LogKey, hub_keys: HubKeys, make_entry: Any
) -> None:
    log = AuditLog(database, log_key=log_key, subject_pepper=hub_keys.subject_pepper, checkpoint_interval_s=0.2)
    try:
        await log.append(make_entry(0))
        await checkpoint_of_size(log, 1)
        await log.append(make_entry(1))
        checkpoint = await checkpoint_of_size(log, 2)  # with no append after it and no close
        proof = await log.inclusion_proof(1)
        assert proof.checkpoint == checkpoint.note
        proof.verify(log_key.verifier_key())
    finally:
        await log.aclose()


async def test_a_failed_commit_fails_its_appends_and_keeps_nothing(
    tmp_path: Path, log_key: LogKey, make_entry: Any
) -> None:
    unmigrated = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    log = AuditLog(unmigrated, log_key=log_key, subject_pepper=bytes(32))
    try:
        results = await asyncio.gather(*(log.append(make_entry(n)) for n in range(5)), return_exceptions=True)
        assert all(isinstance(result, AuditUnavailable) for result in results)
        with pytest.raises(AuditUnavailable):
            await log.append(make_entry(5))  # the writer is still alive and still reports
    finally:
        await log.aclose()
        await unmigrated.dispose()


async def test_search_filters_and_pages(audit: AuditLog, hub_keys: HubKeys, make_entry: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    await audit.append(make_entry(0, people=PEOPLE[:2]))
    await audit.append(make_entry(1, actor=OTHER_MIS, people=PEOPLE[1:2]))
    await audit.append(make_entry(2, purpose="dibao.review", people=PEOPLE[2:]))
    ref = subject_ref(hub_keys.subject_pepper, PEOPLE[1])
    await audit.append(
        SourceQueried(
            actor=MIS,
            verification_id="v-1",
            purpose="dibao.application",
            source="tax",
            subject_refs=[ref],
            categories=["tax"],
            outcome="ok",
        )
    )

    def indices(found: list[Any]) -> list[int]:
        return [item.leaf_index for item in found]

    assert indices(await audit.search(member=OTHER_MIS)) == [1]
    assert indices(await audit.search(purpose="dibao.review")) == [2]
    assert indices(await audit.search(types=["source.queried"])) == [3]
    assert indices(await audit.search(subject_id_number=PEOPLE[1])) == [0, 1, 3]
    assert indices(await audit.search(subject_id_number=PEOPLE[1].lower(), member=MIS)) == [0, 3]
    assert indices(await audit.search(since=before, until=before + timedelta(hours=1))) == [0, 1, 2, 3]
    assert await audit.search(until=before) == []
    assert indices(await audit.search(limit=2)) == [0, 1]
    assert indices(await audit.search(after=1, limit=2)) == [2, 3]
    found = await audit.search(member=OTHER_MIS)
    assert found[0].entry["case_id"] == "110101-2026-000001"
    assert found[0].to_json()["leaf_index"] == 1
    with pytest.raises(InvalidIdNumber):
        await audit.search(subject_id_number="110101199003071234")
    with pytest.raises(AuditEntryInvalid):
        await audit.search(member="not a member id")


async def test_viewing_entries_is_itself_logged(audit: AuditLog, make_entry: Any) -> None:
    for number in range(3):
        await audit.append(make_entry(number))

    shown = await audit.entries(0, 3, viewer=Viewer(AUDITOR, "auditor-7"))

    assert [item.leaf_index for item in shown] == [0, 1, 2]
    viewed = await audit.entries(3, 4)
    assert viewed[0].entry["type"] == "audit.viewed"
    assert viewed[0].entry["actor"] == AUDITOR and viewed[0].entry["operator"] == "auditor-7"
    assert viewed[0].entry["query"]["start"] == 0 and viewed[0].entry["result_count"] == 3
    with pytest.raises(InvalidInput):
        await audit.entries(0, 5000)


async def test_subject_access_report_names_every_access_and_no_one_else(
    audit: AuditLog, hub_keys: HubKeys, make_entry: Any
) -> None:
    pepper = hub_keys.subject_pepper
    requested = make_entry(1, people=PEOPLE[:2])
    await audit.append(requested)
    for source, outcome in [("tax", "ok"), ("banking", "timeout")]:
        await audit.append(
            SourceQueried(
                actor=MIS,
                verification_id=requested.verification_id,
                purpose=requested.purpose,
                source=source,
                subject_refs=requested.subject_refs,
                categories=[source],
                outcome=outcome,
            )
        )
    await audit.append(
        VerificationCompleted(
            actor=MIS,
            verification_id=requested.verification_id,
            case_id=requested.case_id,
            purpose=requested.purpose,
            region="110101",
            subject_refs=requested.subject_refs,
            categories=["tax", "banking"],
            outcome="partial",
            report_digest="d" * 64,
        )
    )
    await audit.append(make_entry(2, people=PEOPLE[2:]))
    await audit.append(
        ConsentRevoked(actor=OTHER_MIS, consent_id="k-1", subject_refs=[subject_ref(pepper, PEOPLE[0])], reason="asked")
    )

    report = await audit.subject_access_report(PEOPLE[0], viewer=Viewer(AUDITOR))

    assert report.subject_ref == subject_ref(pepper, PEOPLE[0])
    assert [(a.kind, a.member, a.outcome) for a in report.accesses] == [
        ("verification", MIS, "partial"),
        ("consent.revoked", OTHER_MIS, "revoked"),
    ]
    assert report.accesses[0].sources == {"tax": "ok", "banking": "timeout"}
    assert report.accesses[0].purpose == "dibao.application"
    document = report.to_json()
    assert PEOPLE[0] not in json.dumps(document)
    # The auditor's look is now part of the person's own report, and of no one else's.
    again = await audit.subject_access_report(PEOPLE[0])
    assert [(a.kind, a.member) for a in again.accesses][-1] == ("audit.viewed", AUDITOR)
    assert [a.kind for a in (await audit.subject_access_report(PEOPLE[2])).accesses] == ["verification"]
