"""Backups of the audit log and the proof that a restored database holds the log that was published
(docs/operations.md, "Backup and restore").

A checkpoint that left the hub (fetched by an auditor, saved beside a backup with ``hedui audit
checkpoint``) commits to every entry up to its tree size. After a restore, ``hedui audit consistency
--checkpoint FILE`` checks the saved checkpoint's signature, then an RFC 9162 §2.1.4 consistency proof from
the saved tree to the restored one: the restored log holds exactly the published entries, in order, and only
adds to them. A backup older than the checkpoint fails: entries a checkpoint covered are missing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.errors import AuditLogCorrupt, CheckpointInvalid, HeduiError

if TYPE_CHECKING:
    from gateway.audit import AuditLog
    from gateway.store import Database


@dataclass(frozen=True, slots=True)
class Consistency:
    saved_size: int
    restored_size: int

    def summary(self) -> str:
        return (
            f"the restored log ({self.restored_size} entries) is consistent with the saved checkpoint "
            f"({self.saved_size} entries): RFC 9162 consistency proof verified"
        )


async def check_consistency(audit: AuditLog, note: str, verifier_keys: list[str]) -> Consistency:
    """Raise unless the log ``audit`` extends the signed checkpoint ``note``, which one of ``verifier_keys``
    must have signed."""
    from gateway.audit.checkpoint import open_checkpoint

    saved = None
    problem: HeduiError | None = None
    for key in verifier_keys:
        try:
            saved = open_checkpoint(note, key)
            break
        except HeduiError as exc:
            problem = exc
    if saved is None:
        raise CheckpointInvalid("the saved checkpoint does not verify with the log's key") from problem
    size = saved.checkpoint.size
    restored = await audit.tree_size()
    if restored < size:
        raise AuditLogCorrupt(
            f"the restored log has {restored} entries; the saved checkpoint covers {size}: "
            f"entries {restored} to {size - 1} are missing (restore a backup taken after the checkpoint)"
        )
    if size == 0:
        return Consistency(0, restored)
    proof = await audit.consistency_proof(size, restored)
    if proof.first_root != saved.checkpoint.root_hash:
        raise AuditLogCorrupt(f"the restored log's first {size} entries are not the ones the checkpoint signed")
    proof.verify()
    return Consistency(size, restored)


def _open_log(key_dir: Path, database_url: str | None) -> tuple[Database, AuditLog]:
    from gateway.audit import AuditLog, LogKey, log_origin
    from gateway.envelope import HubKeys
    from gateway.settings import Settings
    from gateway.store import Database

    settings = Settings()
    database = Database(database_url or settings.database_url)
    log = AuditLog(
        database,
        log_key=LogKey.load(key_dir, name=log_origin(settings.hub_id)),
        subject_pepper=HubKeys.load(key_dir).subject_pepper,
    )
    return database, log


def _key_dir(key_dir: Path | None) -> Path:
    from gateway.settings import Settings

    return key_dir or Settings().key_dir


def _fail(exc: HeduiError) -> typer.Exit:
    typer.echo(f"error {exc.code}: {exc.detail}", err=True)
    return typer.Exit(code=1)


def audit_checkpoint(
    out: Annotated[Path | None, typer.Option(help="Write the signed note here instead of standard output")] = None,
    database_url: Annotated[str | None, typer.Option(help="Default: HEDUI_DATABASE_URL")] = None,
    key_dir: Annotated[Path | None, typer.Option(help="Default: HEDUI_KEY_DIR")] = None,
) -> None:
    """Sign the current tree if it has grown and print its checkpoint (C2SP signed note): save it beside
    each backup, so that a restore can be checked against it (`hedui audit consistency`)."""

    async def run() -> str:
        database, log = _open_log(_key_dir(key_dir), database_url)
        try:
            stored = await log.checkpoint()
        finally:
            await log.aclose()
            await database.dispose()
        if stored is None:
            raise AuditLogCorrupt("the log is empty: there is nothing to checkpoint yet")
        return stored.note

    try:
        note = asyncio.run(run())
    except HeduiError as exc:
        raise _fail(exc) from exc
    if out is None:
        typer.echo(note, nl=False)
    else:
        out.write_text(note, encoding="utf-8")
        typer.echo(f"checkpoint written to {out}")


def audit_consistency(
    checkpoint: Annotated[Path, typer.Option(help="A signed checkpoint saved earlier (`hedui audit checkpoint`)")],
    verifier_key: Annotated[
        list[str] | None, typer.Option(help="The log's C2SP verifier key (default: the key directory's)")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Default: HEDUI_DATABASE_URL")] = None,
    key_dir: Annotated[Path | None, typer.Option(help="Default: HEDUI_KEY_DIR")] = None,
) -> None:
    """Prove the log in the database extends a saved checkpoint (after a restore); exit 1 if it does not."""
    from gateway.audit import LogKey, log_origin
    from gateway.settings import Settings

    directory = _key_dir(key_dir)

    async def run() -> str:
        keys = verifier_key or [LogKey.load(directory, name=log_origin(Settings().hub_id)).verifier_key()]
        database, log = _open_log(directory, database_url)
        try:
            return (await check_consistency(log, checkpoint.read_text(encoding="utf-8"), keys)).summary()
        finally:
            await log.aclose()
            await database.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except OSError as exc:
        raise _fail(CheckpointInvalid("cannot read the saved checkpoint file")) from exc
    except HeduiError as exc:
        raise _fail(exc) from exc
