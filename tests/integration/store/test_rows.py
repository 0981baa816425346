"""Bulk row writes through the driver (gateway.store.rows) store exactly what SQLAlchemy would: the same
stored time format on SQLite (where times are text compared as text), the same values on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text, update

from gateway.store import Database
from gateway.store.models import Verification
from gateway.store.rows import insert_rows
from gateway.store.verifications import Completed, write_completed

COLUMNS = ("verification_id", "requester", "case_id", "purpose", "region", "status", "created_at", "requested_leaf")
AT = datetime(2026, 7, 1, 8, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=2)
    yield db
    await db.dispose()


def row(verification_id: str) -> tuple[object, ...]:
    return (verification_id, "mis", "case", "dibao.application", "110101", "requested", AT, 7)


async def test_driver_rows_are_stored_as_sqlalchemy_stores_them(database: Database) -> None:
    async with database.engine.begin() as connection:
        await insert_rows(connection, Verification, COLUMNS, [row("by-driver")])
        await connection.execute(insert(Verification), [dict(zip(COLUMNS, row("by-sqlalchemy"), strict=True))])
    async with database.autocommit() as connection:
        stored = {
            found.verification_id: (found.created_at, found.requested_leaf)
            for found in await connection.execute(
                select(
                    Verification.verification_id,
                    text("CAST(created_at AS TEXT) AS created_at"),
                    Verification.requested_leaf,
                )
            )
        }
        typed = (await connection.execute(select(Verification.created_at).limit(1))).scalar_one()
    assert stored["by-driver"] == stored["by-sqlalchemy"]
    assert typed.replace(tzinfo=typed.tzinfo or UTC) == AT


async def test_no_rows_is_no_statement(database: Database) -> None:
    async with database.engine.begin() as connection:
        await insert_rows(connection, Verification, COLUMNS, [])
    async with database.autocommit() as connection:
        assert (await connection.execute(select(Verification.verification_id))).first() is None


async def test_a_completed_verification_is_stored_as_sqlalchemy_stores_it(database: Database) -> None:
    async with database.engine.begin() as connection:
        await insert_rows(connection, Verification, COLUMNS, [row("by-driver"), row("by-sqlalchemy")])
    done = Completed("by-driver", "complete", AT, "ab" * 32, b"sealed")
    async with database.engine.begin() as connection:
        await write_completed.write(connection, [(7, done)])
        await connection.execute(
            update(Verification)
            .where(Verification.verification_id == "by-sqlalchemy")
            .values(status="complete", completed_at=AT, report_digest="ab" * 32, report_sealed=b"sealed")
        )
    async with database.autocommit() as connection:
        stored = {
            found[0]: tuple(found[1:])
            for found in await connection.execute(
                text(
                    "SELECT verification_id, status, CAST(completed_at AS TEXT), report_digest, report_sealed"
                    " FROM verifications"
                )
            )
        }
    assert stored["by-driver"] == stored["by-sqlalchemy"]
    assert stored["by-driver"][0] == "complete" and bytes(stored["by-driver"][3]) == b"sealed"
