"""`hedui audit verify` catches an edited, a deleted and two swapped entries, and a tree rebuilt to hide an
edit, directly in the database; `prove` hands out a bundle `check-proof` accepts and nothing else does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, text, update
from typer.testing import CliRunner

from gateway.audit import AuditLog, LogKey, SourceQueried, init_log_key
from gateway.audit.checkpoint import verifier_key
from gateway.audit.models import AuditEntryRow, AuditNode, AuditSubject
from gateway.audit.rfc9162 import append_leaves, leaf_hash
from gateway.cli import app
from gateway.store import Database

ENTRIES = 40


async def hedui(*args: str) -> Result:
    # CliRunner runs the command's own event loop: give it a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


def said(result: Result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture
async def filled(audit: AuditLog, make_entry: Any) -> AuditLog:
    """A log of 40 entries with checkpoints at 1, 20 and 40 entries."""
    await audit.append(make_entry(0))
    await asyncio.gather(*(audit.append(make_entry(number)) for number in range(1, 20)))
    await audit.checkpoint()
    await asyncio.gather(*(audit.append(make_entry(number)) for number in range(20, ENTRIES)))
    await audit.checkpoint()
    return audit


async def verify(database_url: str, key_dir: Path) -> Result:
    return await hedui("audit", "verify", "--database-url", database_url, "--key-dir", str(key_dir))


TABLES = (AuditEntryRow, AuditSubject, AuditNode)


async def snapshot(database: Database) -> dict[type[Any], list[dict[str, Any]]]:
    async with database.session() as session:
        return {
            table: [dict(row._mapping) for row in await session.execute(select(table.__table__))] for table in TABLES
        }


async def restore(database: Database, saved: dict[type[Any], list[dict[str, Any]]]) -> None:
    async with database.session() as session, session.begin():
        for table, rows in saved.items():
            await session.execute(delete(table))
            await session.execute(insert(table), rows)


async def entry_row(database: Database, index: int) -> Any:
    async with database.session() as session:
        return (await session.execute(select(AuditEntryRow).where(AuditEntryRow.leaf_index == index))).scalar_one()


async def edit_entry(database: Database) -> None:
    row = await entry_row(database, 17)
    edited = bytes(row.entry).replace(b'"staff-3"', b'"staff-4"')
    assert edited != bytes(row.entry)
    async with database.session() as session, session.begin():
        await session.execute(update(AuditEntryRow).where(AuditEntryRow.leaf_index == 17).values(entry=edited))


async def edit_entry_as_text(database: Database) -> None:
    """What an editor with a SQL shell does: a text function over the stored JSON."""
    async with database.session() as session, session.begin():
        if database.is_sqlite:
            statement = "UPDATE audit_entries SET entry = replace(entry, '\"staff-2\"', '\"staff-0\"')"
        else:
            statement = (
                "UPDATE audit_entries SET entry = "
                "convert_to(replace(convert_from(entry, 'UTF8'), '\"staff-2\"', '\"staff-0\"'), 'UTF8')"
            )
        await session.execute(text(f"{statement} WHERE leaf_index = 9"))


async def delete_entry(database: Database, index: int) -> None:
    async with database.session() as session, session.begin():
        await session.execute(delete(AuditEntryRow).where(AuditEntryRow.leaf_index == index))


async def swap_entries(database: Database) -> None:
    first, second = await entry_row(database, 5), await entry_row(database, 30)
    columns = ("entry", "entry_type", "logged_at", "actor", "purpose")
    async with database.session() as session, session.begin():
        for index, source in ((5, second), (30, first)):
            values = {column: getattr(source, column) for column in columns}
            await session.execute(update(AuditEntryRow).where(AuditEntryRow.leaf_index == index).values(values))


async def rebuild_tree_after_an_edit(database: Database) -> None:
    row = await entry_row(database, 8)
    edited = bytes(row.entry).replace(b'"staff-1"', b'"staff-2"')
    async with database.session() as session, session.begin():
        await session.execute(update(AuditEntryRow).where(AuditEntryRow.leaf_index == 8).values(entry=edited))
        entries = (await session.execute(select(AuditEntryRow.entry).order_by(AuditEntryRow.leaf_index))).scalars()
        completed, _ = append_leaves((), [leaf_hash(bytes(entry)) for entry in entries])
        await session.execute(delete(AuditNode))
        session.add_all(AuditNode(level=node.level, index=node.index, hash=value) for node, value in completed)


async def edit_search_column(database: Database) -> None:
    async with database.session() as session, session.begin():
        await session.execute(
            update(AuditEntryRow).where(AuditEntryRow.leaf_index == 12).values(actor="CN/GOV/11100000MB9876543F/audit")
        )


async def drop_subject_row(database: Database) -> None:
    async with database.session() as session, session.begin():
        await session.execute(delete(AuditSubject).where(AuditSubject.leaf_index == 33))


TAMPERINGS = [
    (edit_entry, "entry 17 was altered"),
    (edit_entry_as_text, "entry 9 was altered"),
    (lambda database: delete_entry(database, 23), "entry 23 is missing"),
    (lambda database: delete_entry(database, ENTRIES - 1), f"entry {ENTRIES - 1} is missing"),
    (swap_entries, "entry 5 was altered or moved"),
    (rebuild_tree_after_an_edit, "the checkpoint of tree size 20 does not match the entries"),
    (edit_search_column, "entry 12 has search columns that differ"),
    (drop_subject_row, "entry 33 has subject index rows that differ"),
]


async def test_verify_names_each_tampering_done_directly_in_the_database(
    filled: AuditLog, database: Database, database_url: str, key_dir: Path
) -> None:
    intact = await verify(database_url, key_dir)
    assert intact.exit_code == 0, intact.output
    assert f"{ENTRIES} entries" in said(intact) and "3 signed checkpoints" in said(intact)
    original = await snapshot(database)

    for tamper, message in TAMPERINGS:
        await tamper(database)
        result = await verify(database_url, key_dir)
        assert result.exit_code == 1, message
        assert "audit_log_corrupt" in said(result) and message in said(result)
        await restore(database, original)
        assert (await verify(database_url, key_dir)).exit_code == 0, f"restored after: {message}"


async def test_a_checkpoint_signed_by_another_key_is_refused(
    filled: AuditLog, database_url: str, key_dir: Path
) -> None:
    stranger = verifier_key(filled.origin, Ed25519PrivateKey.generate().public_key())

    result = await hedui("audit", "verify", "--database-url", database_url, "--verifier-key", stranger)

    assert result.exit_code == 1
    assert "checkpoint of tree size 1: the note carries no signature by this key" in said(result)


async def test_prove_prints_a_bundle_that_check_proof_accepts(
    filled: AuditLog, log_key: LogKey, database_url: str, key_dir: Path, tmp_path: Path
) -> None:
    proved = await hedui("audit", "prove", "--leaf", "27", "--database-url", database_url, "--key-dir", str(key_dir))
    assert proved.exit_code == 0, proved.output
    bundle = json.loads(proved.stdout)
    assert (bundle["leaf_index"], bundle["tree_size"]) == (27, ENTRIES)
    assert json.loads(bundle["entry"])["case_id"] == "110101-2026-000027"
    assert bundle["checkpoint"].startswith(f"{log_key.name}\n{ENTRIES}\n")
    path = tmp_path / "bundle.json"
    path.write_text(proved.stdout)

    checked = await hedui("audit", "check-proof", str(path), "--verifier-key", log_key.verifier_key())
    assert checked.exit_code == 0, checked.output
    assert "entry 27 is in the log's tree of size 40" in said(checked)

    path.write_text(json.dumps({**bundle, "entry": bundle["entry"].replace("000027", "000028")}))
    forged = await hedui("audit", "check-proof", str(path), "--verifier-key", log_key.verifier_key())
    assert forged.exit_code == 1 and "proof_invalid" in said(forged)


async def test_prove_against_an_older_checkpoint_and_a_new_leaf(
    filled: AuditLog, database_url: str, key_dir: Path, log_key: LogKey, tmp_path: Path
) -> None:
    options = ["--database-url", database_url, "--key-dir", str(key_dir)]
    older = await hedui("audit", "prove", "--leaf", "3", "--tree-size", "20", *options)
    assert older.exit_code == 0, older.output
    assert json.loads(older.stdout)["tree_size"] == 20

    missing = await hedui("audit", "prove", "--leaf", "3", "--tree-size", "21", *options)
    assert missing.exit_code == 1 and "no checkpoint was signed at tree size 21" in said(missing)

    # A leaf beyond the latest checkpoint: prove signs the current tree first.
    await filled.append(
        SourceQueried(
            actor="CN/GOV/11100000MB0348916Y/dibao",
            verification_id="v-1",
            purpose="dibao.application",
            source="tax",
            subject_refs=["ab" * 32],
            categories=["tax"],
            outcome="ok",
        )
    )
    newest = await hedui("audit", "prove", "--leaf", str(ENTRIES), *options)
    assert newest.exit_code == 0, newest.output
    path = tmp_path / "newest.json"
    path.write_text(newest.stdout)
    checked = await hedui("audit", "check-proof", str(path), "--verifier-key", log_key.verifier_key())
    assert checked.exit_code == 0, checked.output

    beyond = await hedui("audit", "prove", "--leaf", "999", *options)
    assert beyond.exit_code == 1 and "not_found" in said(beyond)


async def test_key_prints_the_verifier_key_and_jwk(key_dir: Path, log_key: LogKey, tmp_path: Path) -> None:
    shown = await hedui("audit", "key", "--key-dir", str(key_dir))
    assert shown.exit_code == 0, shown.output
    vkey, jwk = shown.stdout.splitlines()
    assert vkey == log_key.verifier_key()
    assert json.loads(jwk) == log_key.public_jwk()

    created = await hedui("audit", "key", "--key-dir", str(tmp_path / "fresh"), "--create")
    assert created.exit_code == 0, created.output
    assert (tmp_path / "fresh" / "log.private.jwk.json").exists()
    absent = await hedui("audit", "key", "--key-dir", str(tmp_path / "absent"))
    assert absent.exit_code == 1 and "configuration_error" in said(absent)


async def test_after_a_log_key_rotation_old_checkpoints_verify_with_the_old_key_listed(
    filled: AuditLog, database: Database, database_url: str, key_dir: Path, log_key: LogKey, make_entry: Any
) -> None:
    init_log_key(key_dir, force=True)
    rotated = LogKey.load(key_dir, name=log_key.name)
    log = AuditLog(database, log_key=rotated, subject_pepper=bytes(32))
    await log.append(make_entry(99))
    await log.aclose()
    options = ["audit", "verify", "--database-url", database_url]

    only_new = await hedui(*options, "--verifier-key", rotated.verifier_key())
    both = await hedui(*options, "--verifier-key", rotated.verifier_key(), "--verifier-key", log_key.verifier_key())

    assert only_new.exit_code == 1 and "checkpoint of tree size 1: the note carries no signature" in said(only_new)
    assert both.exit_code == 0, both.output
    assert f"{ENTRIES + 1} entries" in said(both) and "4 signed checkpoints" in said(both)
