"""Backup and restore of the audit log, as the runbook does it (docs/operations.md, "Backup and restore"):
a checkpoint saved with each backup, pg_dump / pg_restore (and SQLite's online backup), then `hedui audit
verify` and `hedui audit consistency --checkpoint` on the restored database. A backup older than a published
checkpoint is caught, and so is an edited entry."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bench._stack import postgres_database
from gateway.audit import AuditLog, KeyRotated, LogKey, log_origin, verify_log
from gateway.envelope import HubKeys
from gateway.errors import AuditLogCorrupt
from gateway.keydir import init_hub_key_dir
from gateway.restore import check_consistency
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from gateway.store.database import migrate_async

HEDUI = str(Path(sys.executable).parent / "hedui")


async def append(url: str, key_dir: Path, count: int) -> None:
    database = Database(url)
    log = AuditLog(
        database,
        log_key=LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=HubKeys.load(key_dir).subject_pepper,
    )
    try:
        for index in range(count):
            await log.append(KeyRotated(actor=DEFAULT_HUB_ID, key="signing", new_kid=f"kid-{index:04d}"))
    finally:
        await log.aclose()
        await database.dispose()


async def hedui(*args: str, url: str, key_dir: Path) -> tuple[int, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("HEDUI_")}
    env |= {"HEDUI_DATABASE_URL": url, "HEDUI_KEY_DIR": str(key_dir)}
    process = await asyncio.create_subprocess_exec(
        HEDUI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def checkpoint_note(url: str, key_dir: Path) -> str:
    """What `hedui audit checkpoint` prints, in process."""
    database = Database(url)
    log = AuditLog(
        database,
        log_key=LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=HubKeys.load(key_dir).subject_pepper,
    )
    try:
        stored = await log.checkpoint()
    finally:
        await log.aclose()
        await database.dispose()
    assert stored is not None
    return stored.note


async def run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(*command)
    assert await asyncio.wait_for(process.wait(), 120) == 0, command


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_pg_dump_restore_is_consistent_with_the_checkpoint_saved_with_it(
    tmp_path: Path, postgres_url: str
) -> None:
    keys = tmp_path / "keys"
    init_hub_key_dir(keys)
    log_key = LogKey.load(keys, name=log_origin(DEFAULT_HUB_ID))
    verifier_key = log_key.verifier_key()
    await append(postgres_url, keys, 10)
    # The backup: a checkpoint first (it is published: auditors may hold it), then the dump.
    assert (await hedui("audit", "checkpoint", "--out", str(tmp_path / "backup.note"), url=postgres_url, key_dir=keys))[
        0
    ] == 0
    dump = tmp_path / "hedui.dump"
    await run("pg_dump", "--format=custom", f"--file={dump}", libpq(postgres_url))
    # The hub goes on; a later checkpoint is published after the backup.
    await append(postgres_url, keys, 5)
    (tmp_path / "later.note").write_text(await checkpoint_note(postgres_url, keys), encoding="utf-8")

    async with postgres_database() as restored:
        await run("pg_restore", "--no-owner", f"--dbname={libpq(restored)}", str(dump))
        database = Database(restored)
        try:
            assert (await verify_log(database, verifier_key)).summary().startswith("audit log intact: 10 entries")
        finally:
            await database.dispose()
        database = Database(restored)
        log = AuditLog(database, log_key=log_key, subject_pepper=HubKeys.load(keys).subject_pepper)
        try:
            note = (tmp_path / "backup.note").read_text(encoding="utf-8")
            assert (await check_consistency(log, note, [verifier_key])).restored_size == 10
        finally:
            await log.aclose()
            await database.dispose()
        # A checkpoint published after the backup covers entries the backup does not have.
        status, out = await hedui(
            "audit", "consistency", "--checkpoint", str(tmp_path / "later.note"), url=restored, key_dir=keys
        )
        assert status == 1 and "entries 10 to 14 are missing" in out, out
        # The restored hub appends after the restored entries; the saved checkpoint still holds.
        await append(restored, keys, 3)
        database = Database(restored)
        log = AuditLog(database, log_key=log_key, subject_pepper=HubKeys.load(keys).subject_pepper)
        try:
            note = (tmp_path / "backup.note").read_text(encoding="utf-8")
            assert (await check_consistency(log, note, [verifier_key])).restored_size == 13
        finally:
            await log.aclose()
            await database.dispose()


async def test_sqlite_online_backup_restores_the_published_log_and_edits_are_caught(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    init_hub_key_dir(keys)
    live = tmp_path / "live.db"
    url = f"sqlite+aiosqlite:///{live}"
    await migrate_async(url)
    await append(url, keys, 7)
    note = await checkpoint_note(url, keys)
    copy = tmp_path / "restored.db"
    with sqlite3.connect(live) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # consistent even while the hub writes
    restored_url = f"sqlite+aiosqlite:///{copy}"
    key = LogKey.load(keys, name=log_origin(DEFAULT_HUB_ID))
    database = Database(restored_url)
    log = AuditLog(database, log_key=key, subject_pepper=HubKeys.load(keys).subject_pepper)
    try:
        assert (await check_consistency(log, note, [key.verifier_key()])).restored_size == 7
    finally:
        await log.aclose()
        await database.dispose()
    # An entry edited in the restored copy: `hedui audit verify` names it.
    with sqlite3.connect(copy) as connection:
        connection.execute(
            "UPDATE audit_entries SET entry = replace(entry, 'kid-0003', 'kid-9999') WHERE leaf_index = 3"
        )
    database = Database(restored_url)
    try:
        with pytest.raises(AuditLogCorrupt, match="entry 3 "):
            await verify_log(database, key.verifier_key())
    finally:
        await database.dispose()


async def test_a_log_that_is_not_the_published_one_fails(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    init_hub_key_dir(keys)
    published, other = (f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("published.db", "other.db"))
    for url in (published, other):
        await migrate_async(url)
    await append(published, keys, 4)
    note = await checkpoint_note(published, keys)
    database = Database(other)
    log = AuditLog(
        database,
        log_key=LogKey.load(keys, name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=HubKeys.load(keys).subject_pepper,
    )
    try:
        for index in range(4):  # same size, other entries
            await log.append(KeyRotated(actor=DEFAULT_HUB_ID, key="encryption", new_kid=f"other-{index}"))
        key = LogKey.load(keys, name=log_origin(DEFAULT_HUB_ID)).verifier_key()
        with pytest.raises(AuditLogCorrupt, match="not the ones the checkpoint signed"):
            await check_consistency(log, note, [key])
    finally:
        await log.aclose()
        await database.dispose()
