"""The verification rows of the hot path, on SQLAlchemy Core (and asyncpg directly where it pays).

Each write is an :class:`~gateway.audit.AlongsideWriter`: it runs inside the audit log's group commit with the
entry it belongs to, once for every verification of the batch (on PostgreSQL as a data-modifying statement of
the log's single-statement commit, see ``UnnestStatement``). A verification's row is
inserted with ``verification.requested`` (status ``requested``) and completed with ``verification.completed``
(status and encrypted report), so a report exists exactly when its completion entry does (issue 11 #8).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.audit.log import AlongsideWriter, UnnestStatement
from gateway.store.database import Database
from gateway.store.models import Verification
from gateway.store.raw import driver_connection
from gateway.store.rows import bound_rows, insert_rows

log = logging.getLogger(__name__)

REQUESTED = "requested"
ABANDONED = "abandoned"
COMPLETED = ("complete", "partial")
"""The statuses of a verification whose report is stored (with its ``verification.completed`` entry)."""


@dataclass(frozen=True, slots=True)
class Requested:
    verification_id: str
    requester: str
    case_id: str
    purpose: str
    region: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Completed:
    verification_id: str
    status: str
    completed_at: datetime
    report_digest: str
    report_sealed: bytes


@dataclass(frozen=True, slots=True)
class StoredReport:
    requester: str
    status: str
    report_sealed: bytes | None


async def _write_requested(connection: AsyncConnection, items: Sequence[tuple[int, Requested]]) -> None:
    """Insert the rows of requested verifications; ``requested_leaf`` is their entry's leaf index."""
    await insert_rows(
        connection,
        Verification,
        ("verification_id", "requester", "case_id", "purpose", "region", "status", "created_at", "requested_leaf"),
        [
            (row.verification_id, row.requester, row.case_id, row.purpose, row.region, REQUESTED, row.created_at, leaf)
            for leaf, row in items
        ],
    )


def _requested_arrays(items: Sequence[tuple[int, Requested]]) -> list[list[Any]]:
    rows = [row for _, row in items]
    return [
        [row.verification_id for row in rows],
        [row.requester for row in rows],
        [row.case_id for row in rows],
        [row.purpose for row in rows],
        [row.region for row in rows],
        [row.created_at for row in rows],
        [leaf for leaf, _ in items],
    ]


_INSERT_REQUESTED_PG = """
INSERT INTO verifications (verification_id, requester, case_id, purpose, region, status, created_at, requested_leaf)
SELECT u.verification_id, u.requester, u.case_id, u.purpose, u.region, 'requested', u.created_at, u.leaf
FROM unnest({0}::varchar[], {1}::varchar[], {2}::varchar[], {3}::varchar[], {4}::varchar[], {5}::timestamptz[],
    {6}::bigint[]) AS u(verification_id, requester, case_id, purpose, region, created_at, leaf)
WHERE {appended}
RETURNING 1
"""

write_requested = AlongsideWriter(_write_requested, UnnestStatement(_INSERT_REQUESTED_PG, 7, _requested_arrays))


_COMPLETE_PG = """
UPDATE verifications AS v
SET status = u.status, completed_at = u.completed_at, report_digest = u.report_digest, report_sealed = u.sealed
FROM unnest({0}::varchar[], {1}::varchar[], {2}::timestamptz[], {3}::varchar[], {4}::bytea[])
    AS u(verification_id, status, completed_at, report_digest, sealed)
WHERE v.verification_id = u.verification_id AND v.status = 'requested' AND {appended}
RETURNING 1
"""


_COMPLETE_SQLITE = """
UPDATE verifications SET status = ?, completed_at = ?, report_digest = ?, report_sealed = ?
WHERE verification_id = ? AND status = 'requested'
"""


def _completed_arrays(items: Sequence[tuple[int, Completed]]) -> list[list[Any]]:
    rows = [row for _, row in items]
    return [
        [row.verification_id for row in rows],
        [row.status for row in rows],
        [row.completed_at for row in rows],
        [row.report_digest for row in rows],
        [row.report_sealed for row in rows],
    ]


def _completed_count(items: Sequence[tuple[int, Completed]], updated: int) -> None:
    if updated != len(items):
        # Only a verification closed as abandoned meanwhile (it outlived the sweeper's bound) is not updated:
        # its completion entry is still logged, its report is not stored.
        log.warning("%d completed verifications were no longer open", len(items) - updated)


async def _write_completed(connection: AsyncConnection, items: Sequence[tuple[int, Completed]]) -> None:
    """Store the reports of completed verifications (one statement for the whole batch)."""
    rows = [row for _, row in items]
    if connection.dialect.name == "postgresql":
        status = await (await driver_connection(connection)).execute(
            _COMPLETE_PG.format("$1", "$2", "$3", "$4", "$5", appended="true"), *_completed_arrays(items)
        )
        updated = int(status.rsplit(" ", 1)[-1])
    else:  # one executemany on the aiosqlite connection: one hop to its thread
        values = bound_rows(
            connection.dialect,
            Verification,
            ("status", "completed_at", "report_digest", "report_sealed", "verification_id"),
            [(row.status, row.completed_at, row.report_digest, row.report_sealed, row.verification_id) for row in rows],
        )
        cursor = await (await driver_connection(connection)).executemany(_COMPLETE_SQLITE, values)
        updated = cursor.rowcount
    _completed_count(items, updated)


write_completed = AlongsideWriter(
    _write_completed, UnnestStatement(_COMPLETE_PG, 5, _completed_arrays, counted=_completed_count)
)


async def stored_report(database: Database, verification_id: str) -> StoredReport | None:
    async with database.autocommit() as connection:
        row = (
            await connection.execute(
                select(Verification.requester, Verification.status, Verification.report_sealed).where(
                    Verification.verification_id == verification_id
                )
            )
        ).first()
    return None if row is None else StoredReport(row.requester, row.status, row.report_sealed)


async def open_since_before(database: Database, cutoff: datetime, limit: int) -> list[tuple[str, int]]:
    """Verifications still ``requested`` that started before ``cutoff``: ``(verification_id, requested_leaf)``."""
    async with database.session() as session:
        rows = await session.execute(
            select(Verification.verification_id, Verification.requested_leaf)
            .where(Verification.status == REQUESTED, Verification.created_at < cutoff)
            .order_by(Verification.created_at)
            .limit(limit)
        )
        return [(row.verification_id, int(row.requested_leaf)) for row in rows if row.requested_leaf is not None]


async def mark_abandoned(
    transaction: AsyncSession | AsyncConnection, verification_ids: Sequence[str], at: datetime
) -> int:
    """Close still-open verifications as abandoned in the caller's transaction (with their
    ``verification.abandoned`` entries); returns how many."""
    result = await transaction.execute(
        update(Verification)
        .where(Verification.verification_id.in_(verification_ids), Verification.status == REQUESTED)
        .values(status=ABANDONED, completed_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
