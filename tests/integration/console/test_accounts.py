"""Console accounts on SQLite and PostgreSQL: argon2id hashes, one answer for unknown names and wrong
passwords, lockout after repeated failures (audited), session expiry, sign-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from gateway.audit import AuditLog
from gateway.console.accounts import ConsoleAccounts, add_user
from gateway.console.models import ConsoleUser
from gateway.errors import Conflict, ConsoleLockedOut, ConsoleSignInFailed
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database

PASSWORD = "correct horse battery staple"
# argon2id with small parameters: the same code paths, a fraction of the time (production: RFC 9106 defaults).
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def accounts(database: Database, audit: AuditLog) -> ConsoleAccounts:
    return ConsoleAccounts(
        database, audit, hub_id=DEFAULT_HUB_ID, max_failures=3, lockout_s=600, session_s=60, hasher=FAST
    )


async def test_the_password_is_stored_as_an_argon2id_hash(database: Database, audit: AuditLog) -> None:
    await add_user(database, audit, "li.auditor", role="auditor", password=PASSWORD, hub_id=DEFAULT_HUB_ID, hasher=FAST)
    async with database.session() as session:
        stored = (await session.execute(select(ConsoleUser.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    added = [entry.entry for entry in await audit.search(types=["console.user_added"])]
    assert [(e["account"], e["role"], e["actor"]) for e in added] == [("li.auditor", "auditor", DEFAULT_HUB_ID)]
    with pytest.raises(Conflict):
        await add_user(
            database, audit, "li.auditor", role="auditor", password=PASSWORD, hub_id=DEFAULT_HUB_ID, hasher=FAST
        )
    assert len(await audit.search(types=["console.user_added"])) == 1  # the refused one left no entry


async def test_sign_in_session_and_sign_out(database: Database, audit: AuditLog) -> None:
    await add_user(database, audit, "li", role="auditor", password=PASSWORD, hub_id=DEFAULT_HUB_ID, hasher=FAST)
    service = accounts(database, audit)
    token, who = await service.sign_in("li", PASSWORD, now=T0)
    assert who.username == "li" and len(who.csrf_token) >= 32
    assert await service.session(token, now=T0 + timedelta(seconds=30)) == who
    assert await service.session(token, now=T0 + timedelta(seconds=61)) is None  # expired
    assert await service.session(token + "x", now=T0) is None
    await service.sign_out(token)
    assert await service.session(token, now=T0) is None


async def test_unknown_names_and_wrong_passwords_get_the_same_answer(database: Database, audit: AuditLog) -> None:
    await add_user(database, audit, "li", role="auditor", password=PASSWORD, hub_id=DEFAULT_HUB_ID, hasher=FAST)
    service = accounts(database, audit)
    for name, password in [("nobody", PASSWORD), ("li", "wrong password"), ("LI!", PASSWORD), ("li", "x" * 5000)]:
        with pytest.raises(ConsoleSignInFailed) as caught:
            await service.sign_in(name, password, now=T0)
        assert caught.value.code == "console_sign_in_failed"


async def test_repeated_failures_lock_the_account_until_the_lockout_ends(database: Database, audit: AuditLog) -> None:
    await add_user(database, audit, "li", role="auditor", password=PASSWORD, hub_id=DEFAULT_HUB_ID, hasher=FAST)
    service = accounts(database, audit)
    token, _ = await service.sign_in("li", PASSWORD, now=T0)
    for attempt in range(3):
        with pytest.raises(ConsoleSignInFailed):
            await service.sign_in("li", f"wrong {attempt}", now=T0)
    with pytest.raises(ConsoleLockedOut):
        await service.sign_in("li", PASSWORD, now=T0 + timedelta(seconds=599))
    assert await service.session(token, now=T0 + timedelta(seconds=1)) is None  # a lock ends open sessions too
    locks = await audit.search(types=["console.locked"])
    assert len(locks) == 1
    assert locks[0].entry["account"] == "li" and locks[0].entry["failures"] == 3
    assert locks[0].entry["actor"] == DEFAULT_HUB_ID and locks[0].entry["operator"] == "console:li"
    await service.sign_in("li", PASSWORD, now=T0 + timedelta(seconds=601))


async def test_a_success_resets_the_failure_count(database: Database, audit: AuditLog) -> None:
    await add_user(database, audit, "li", role="auditor", password=PASSWORD, hub_id=DEFAULT_HUB_ID, hasher=FAST)
    service = accounts(database, audit)
    for _ in range(2):
        with pytest.raises(ConsoleSignInFailed):
            await service.sign_in("li", "wrong", now=T0)
    await service.sign_in("li", PASSWORD, now=T0)
    for _ in range(2):
        with pytest.raises(ConsoleSignInFailed):
            await service.sign_in("li", "wrong", now=T0)
    await service.sign_in("li", PASSWORD, now=T0)
    assert await audit.search(types=["console.locked"]) == []
