"""The group commit in one statement (PostgreSQL, issue 12): taken when this process wrote the last batch, given
up without writing anything when another appended meanwhile (the transaction path then commits the batch),
and on both paths the rows of the alongside writers commit with their entries."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from gateway.audit import AuditLog, LogKey, verify_log
from gateway.envelope import HubKeys
from gateway.errors import AuditUnavailable
from gateway.store import Database
from gateway.store.models import Verification
from gateway.store.verifications import Completed, Requested, write_completed, write_requested

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


class CountedLog:
    """An audit log that counts how often its batches take the transaction path."""

    def __init__(self, database: Database, log_key: LogKey, hub_keys: HubKeys) -> None:
        self.log = AuditLog(database, log_key=log_key, subject_pepper=hub_keys.subject_pepper)
        self.transactions = 0
        commit_in_transaction = self.log._commit_in_transaction

        async def counted(batch: Any) -> int:
            self.transactions += 1
            return await commit_in_transaction(batch)

        self.log._commit_in_transaction = counted  # type: ignore[method-assign]


async def test_one_statement_while_this_process_appends_alone_and_a_transaction_after_another_did(
    database: Database, log_key: LogKey, hub_keys: HubKeys, make_entry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = CountedLog(database, log_key, hub_keys), CountedLog(database, log_key, hub_keys)

    async def requested(log: CountedLog, number: int) -> int:
        entry = make_entry(number, case_id=f"case-{number}")
        row = Requested(entry.verification_id, entry.actor, entry.case_id, entry.purpose, entry.region, entry.time)
        return await log.log.append_all((entry,), alongside=(write_requested, row))

    try:
        assert await first.log.append(make_entry(0)) == 0
        assert first.transactions == 1  # nothing cached yet: the border is read in a transaction
        assert await requested(first, 1) == 1
        assert await requested(first, 2) == 2
        assert first.transactions == 1  # one statement each

        assert await requested(second, 3) == 3
        assert await requested(first, 4) == 4  # its statement found the sequencer moved: wrote nothing
        assert first.transactions == 2
        assert await requested(first, 5) == 5
        assert first.transactions == 2

        async with database.autocommit() as connection:
            rows = dict((await connection.execute(select(Verification.case_id, Verification.requested_leaf))).all())
        assert rows == {f"case-{number}": number for number in range(1, 6)}

        # The report goes in with its completion entry; one that was no longer open is said so.
        async with database.autocommit() as connection:
            verification_id = (
                await connection.execute(select(Verification.verification_id).where(Verification.case_id == "case-2"))
            ).scalar_one()
        at = datetime.now(UTC)
        done = Completed(verification_id, "complete", at, "ab" * 32, b"sealed report")
        await first.log.append_all((make_entry(6),), alongside=(write_completed, done))
        assert first.transactions == 2
        async with database.autocommit() as connection:
            stored = (
                await connection.execute(
                    select(Verification.status, Verification.report_sealed).where(
                        Verification.verification_id == verification_id
                    )
                )
            ).one()
        assert tuple(stored) == ("complete", b"sealed report")
        with caplog.at_level(logging.WARNING, logger="gateway.store.verifications"):
            await first.log.append_all((make_entry(7),), alongside=(write_completed, done))
        assert "1 completed verifications were no longer open" in caplog.text
    finally:
        await first.log.aclose()
        await second.log.aclose()
    report = await verify_log(database, log_key.verifier_key())
    assert report.tree_size == 8


async def test_a_failed_statement_writes_nothing_and_the_log_goes_on(
    database: Database, log_key: LogKey, hub_keys: HubKeys, make_entry: Any
) -> None:
    log = AuditLog(database, log_key=log_key, subject_pepper=hub_keys.subject_pepper)
    try:
        await log.append(make_entry(0))
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'injected'; END $$"
                )
            )
            await connection.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON audit_subjects FOR EACH ROW EXECUTE FUNCTION refuse()")
            )
        with pytest.raises(AuditUnavailable):
            await log.append(make_entry(1))
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER refuse ON audit_subjects"))
        assert await log.append(make_entry(2)) == 1  # the failed batch left no leaf behind
        assert await log.append(make_entry(3)) == 2
    finally:
        await log.aclose()
    assert (await verify_log(database, log_key.verifier_key())).tree_size == 3
