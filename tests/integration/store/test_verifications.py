"""The verification rows of the hot path, written in the audit log's transactions (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import (
    AuditLog,
    LogKey,
    VerificationCompleted,
    VerificationRequested,
    init_log_key,
    log_origin,
    subject_ref,
)
from gateway.envelope import HubKeys, init_key_dir
from gateway.errors import AuditUnavailable
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database, verifications
from gateway.store.models import Verification

MIS = "CN/GOV/11100000MB0348916Y/dibao"
PERSON = "11010519491231002X"


@pytest.fixture
async def audit(tmp_path: Path, database_url: str) -> AsyncIterator[AuditLog]:
    init_key_dir(tmp_path / "keys")
    init_log_key(tmp_path / "keys")
    pepper = HubKeys.load(tmp_path / "keys").subject_pepper
    database = Database(database_url)
    log = AuditLog(
        database,
        log_key=LogKey.load(tmp_path / "keys", name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=pepper,
        checkpoint_interval_s=3600,
    )
    log.test_pepper = pepper  # type: ignore[attr-defined]
    try:
        yield log
    finally:
        await log.aclose()
        await database.dispose()


def about(log: AuditLog, verification_id: str) -> dict[str, Any]:
    return {
        "actor": MIS,
        "verification_id": verification_id,
        "case_id": f"case-{verification_id[:8]}",
        "purpose": "dibao.application",
        "region": "110101",
        "subject_refs": (subject_ref(log.test_pepper, PERSON),),  # type: ignore[attr-defined]
        "categories": ("tax",),
    }


async def verify_one(log: AuditLog) -> tuple[str, int, int]:
    verification_id = str(uuid.uuid4())
    fields = about(log, verification_id)
    requested = await log.append_all(
        (VerificationRequested(**fields, request_digest="a" * 64),),
        alongside=(
            verifications.write_requested,
            verifications.Requested(verification_id, MIS, fields["case_id"], "dibao.application", "110101", now()),
        ),
    )
    report = f"report of {verification_id}".encode()
    digest = hashlib.sha256(report).hexdigest()
    completed = await log.append_all(
        (VerificationCompleted(**fields, outcome="complete", report_digest=digest),),
        alongside=(
            verifications.write_completed,
            verifications.Completed(verification_id, "complete", now(), digest, report),
        ),
    )
    return verification_id, requested, completed


def now() -> datetime:
    return datetime.now(UTC)


async def rows(log: AuditLog) -> dict[str, Any]:
    async with log._database.session() as session:
        return {row.verification_id: row for row in await session.scalars(select(Verification))}


async def test_rows_commit_with_their_entries_in_grouped_transactions(audit: AuditLog) -> None:
    done = await asyncio.gather(*(verify_one(audit) for _ in range(24)))
    stored = await rows(audit)
    assert len(stored) == 24
    for verification_id, requested_leaf, completed_leaf in done:
        row = stored[verification_id]
        assert row.status == "complete" and row.requested_leaf == requested_leaf
        assert row.report_sealed == f"report of {verification_id}".encode()
        assert row.report_digest == hashlib.sha256(row.report_sealed).hexdigest()
        assert completed_leaf > requested_leaf
        found = await verifications.stored_report(audit._database, verification_id)
        assert found is not None and found.report_sealed == row.report_sealed
    assert await audit.tree_size() == 48


async def test_a_failing_row_write_keeps_nothing_of_the_batch(audit: AuditLog) -> None:
    async def failing(connection: AsyncConnection, items: Sequence[tuple[int, Any]]) -> None:
        raise RuntimeError("injected")

    verification_id = str(uuid.uuid4())
    with pytest.raises(AuditUnavailable):
        await audit.append_all(
            (VerificationRequested(**about(audit, verification_id), request_digest="a" * 64),),
            alongside=(failing, None),
        )
    assert await audit.tree_size() == 0 and await rows(audit) == {}
    await verify_one(audit)  # the log goes on
    assert await audit.tree_size() == 2


async def test_append_within_commits_and_rolls_back_with_the_callers_transaction(audit: AuditLog) -> None:
    database = audit._database
    entry = VerificationRequested(**about(audit, str(uuid.uuid4())), request_digest="b" * 64)

    class Rollback(Exception):
        pass

    async def rolled_back() -> None:
        async with database.session() as session, session.begin():
            await audit.append_within(session, entry)
            raise Rollback

    with pytest.raises(Rollback):
        await rolled_back()
    assert await audit.tree_size() == 0
    async with database.session() as session, session.begin():
        assert await audit.append_within(session, entry, entry) == [0, 1]
    await verify_one(audit)  # the writer finds the tree another transaction extended
    assert await audit.tree_size() == 4
    proof = await audit.inclusion_proof(3, 4, with_entry=True)
    assert proof.tree_size == 4
