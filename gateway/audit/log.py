"""The audit log service: durable batched appends, signed checkpoints, proofs, search, subject access reports.

Appends. :meth:`AuditLog.append` canonicalises the entry in the caller's task, hands it to this process's one
writer task and returns the entry's leaf index once the transaction holding it has committed. The writer
commits whatever has queued up meanwhile in one transaction: under load a commit carries many entries, at rest
each entry is its own. A transaction first increments the single sequencer row (``UPDATE ... RETURNING``):
PostgreSQL holds that row lock, and SQLite its database write lock, until commit, so transactions of every hub
process take their leaf indices, and extend the tree, one after the other. It then reads the right border of
the tree (O(log n) stored perfect-subtree hashes, skipped when this process wrote the previous batch itself),
computes the new leaves' hashes and the perfect subtrees they complete, and inserts entries, subject index and
node hashes. A failed commit fails every append of the batch with :class:`AuditUnavailable`; nothing of it
is kept, so leaf indices have no gaps.

Entries that belong together go in one call (:meth:`AuditLog.append_all`): they get consecutive leaves in
one transaction, with the rows an :data:`AlongsideWriter` adds to that same transaction (the flow stores a
report there with its ``verification.completed`` entry, so neither exists without the other). Services that
change state in a transaction of their own write its entry in it with :meth:`AuditLog.append_within`: the
change and its entry commit together or not at all.

Checkpoints. After a commit, when ``checkpoint_interval_s`` has passed since this process's last checkpoint,
the current tree head is signed (:mod:`gateway.audit.checkpoint`); while entries are uncovered and the log is
idle, a timer does the same, so every entry is covered by a checkpoint within that interval.

Reads fold stored node hashes (:mod:`gateway.audit.rfc9162`); no request rebuilds the tree. Reads that show
entries to a viewer commit an ``audit.viewed`` entry before returning, and return nothing if it cannot be
committed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gateway.audit import _store
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.entries import AuditEntry, AuditQuery, AuditViewed, canonical_entry, subject_ref
from gateway.audit.keys import LogKey
from gateway.audit.models import AuditCheckpoint, AuditEntryRow, AuditNode, AuditSequencer, AuditSubject
from gateway.audit.proofs import ConsistencyProof, InclusionProof
from gateway.audit.rfc9162 import Node, append_leaves, consistency_plan, fold, inclusion_plan, leaf_hash, subtree_nodes
from gateway.audit.subject_report import Access, subject_accesses
from gateway.errors import AuditUnavailable, InvalidInput, NotFound, StoreUnavailable
from gateway.store import Database
from gateway.store.raw import DRIVER_ERRORS, autocommit_driver, driver_connection
from gateway.store.rows import insert_rows

log = logging.getLogger(__name__)

_STORE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, *DRIVER_ERRORS)

MAX_PAGE = 1000
MAX_REPORT_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: an auditor member and, where known, its staff member."""

    member: str
    operator: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    leaf_index: int
    entry: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"leaf_index": self.leaf_index, "entry": self.entry}


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": base64.b64encode(self.root_hash).decode("ascii"),
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "checkpoint": self.note,
        }


@dataclass(frozen=True, slots=True)
class SubjectAccessReport:
    subject_ref: str
    generated_at: datetime
    accesses: list[Access]
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_ref": self.subject_ref,
            "generated_at": self.generated_at.isoformat(),
            "accesses": [access.to_json() for access in self.accesses],
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class UnnestStatement:
    """A writer's rows as one data-modifying statement of the log's single-statement commit on PostgreSQL.

    ``statement`` spells its ``arity`` array parameters ``{0}``, ``{1}``, ... and the condition that the
    commit's sequencer bump succeeded ``{appended}`` (its rows must depend on it: without the bump nothing of
    the commit may be written); it ends in ``RETURNING 1`` so the commit can count its rows. ``arrays`` turns
    the staged items into the parameters, in order; ``counted`` (optional) hears how many rows it wrote."""

    statement: str
    arity: int
    arrays: Callable[[Sequence[tuple[int, Any]]], Sequence[list[Any]]]
    counted: Callable[[Sequence[tuple[int, Any]], int], None] | None = None


@dataclass(frozen=True, slots=True)
class AlongsideWriter:
    """Writes rows that must commit with their entries. ``write`` is called once per transaction with the
    connection and, for every append that staged a payload for it, the leaf index of that append's first entry
    and the payload; ``unnest``, when given, is the same write as a statement the PostgreSQL single-statement
    commit can fold in (without it, batches that stage for this writer take the transaction path)."""

    write: Callable[[AsyncConnection, Sequence[tuple[int, Any]]], Awaitable[None]]
    unnest: UnnestStatement | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    entry: bytes
    columns: tuple[str, datetime, str, str | None]  # the copies searches filter on: type, time, actor, purpose
    subject_refs: tuple[str, ...]


@dataclass(slots=True)
class _Pending:
    entries: list[_Prepared]
    alongside: tuple[AlongsideWriter, Any] | None
    done: asyncio.Future[int]


class _Wake:
    """Queued to wake an idle writer: entries were committed by another transaction and need a checkpoint."""


_WAKE = _Wake()


def _prepare(entry: AuditEntry) -> _Prepared:
    return _Prepared(
        entry=canonical_entry(entry),
        columns=(entry.type, entry.time, entry.actor, getattr(entry, "purpose", None)),
        subject_refs=tuple(dict.fromkeys(getattr(entry, "subject_refs", ()))),
    )


class AuditLog:
    """One per hub process, shared by every request; :meth:`aclose` at shutdown."""

    def __init__(
        self,
        database: Database,
        *,
        log_key: LogKey,
        subject_pepper: bytes,
        max_batch: int = 2000,
        checkpoint_interval_s: float = 5.0,
    ) -> None:
        self._database = database
        self._key = log_key
        self._pepper = subject_pepper
        self._max_batch = max_batch
        self._interval = checkpoint_interval_s
        self._queue: asyncio.Queue[_Pending | _Wake | None] = asyncio.Queue(maxsize=max_batch * 8)
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        # The tree as this process last committed it: its size and right border, reused when no other
        # process has appended since.
        self._size = -1
        self._frontier: list[tuple[Node, bytes]] = []
        self._uncovered = False
        self._last_checkpoint = -math.inf

    @property
    def origin(self) -> str:
        return self._key.name

    # -- appends ---------------------------------------------------------------------------------------

    async def append(self, entry: AuditEntry) -> int:
        """Record ``entry``; returns its leaf index once it is committed. :class:`AuditUnavailable` if not."""
        return await self.append_all((entry,))

    async def append_all(
        self, entries: Sequence[AuditEntry], *, alongside: tuple[AlongsideWriter, Any] | None = None
    ) -> int:
        """Record ``entries`` on consecutive leaves in one transaction, with ``alongside`` (a writer and its
        payload) in that transaction too; returns the first leaf index once committed, or raises
        :class:`AuditUnavailable` and nothing of it (entries or rows) is kept."""
        if self._closed:
            raise AuditUnavailable("the audit log is closed")
        if not entries:
            raise ValueError("append_all needs at least one entry")
        pending = _Pending(
            entries=[_prepare(entry) for entry in entries],
            alongside=alongside,
            done=asyncio.get_running_loop().create_future(),
        )
        self._ensure_writer()
        await self._queue.put(pending)
        return await pending.done

    async def append_within(self, transaction: AsyncConnection | AsyncSession, *entries: AuditEntry) -> list[int]:
        """Append ``entries`` inside the caller's open transaction (a connection's or a session's), the one
        that makes the change they record, so that they commit, or roll back, together with it; returns their
        leaf indices. A checkpoint covers them within the interval once that transaction commits.

        The sequencer's lock is held from here to that commit: append last and commit soon. On SQLite the
        transaction must hold the write lock before it reads (``BEGIN IMMEDIATE``, or a write such as this
        append as its first statement): a deferred transaction that read first cannot take it once another
        process has committed.
        """
        if self._closed:
            raise AuditUnavailable("the audit log is closed")
        prepared = [_prepare(entry) for entry in entries]
        connection = await transaction.connection() if isinstance(transaction, AsyncSession) else transaction
        try:
            start, _, _ = await self._write(connection, prepared)
        except _STORE_ERRORS as exc:
            raise AuditUnavailable("the audit entry could not be written") from exc
        event.listen(connection.sync_connection, "commit", self._committed_elsewhere, once=True)
        return list(range(start, start + len(prepared)))

    def _committed_elsewhere(self, _connection: Any) -> None:
        # Runs on the event loop's thread (SQLAlchemy's async bridge): have the writer sign a checkpoint
        # covering those entries within the interval, like its own.
        if self._closed:
            return
        self._uncovered = True
        self._ensure_writer()
        with contextlib.suppress(asyncio.QueueFull):  # a full queue means a busy writer: it will see the flag
            self._queue.put_nowait(_WAKE)

    def _ensure_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name="audit-log-writer")
        elif self._writer.done():
            raise AuditUnavailable("the audit log's writer has stopped")

    async def aclose(self) -> None:
        """Commit what is queued, sign a last checkpoint if entries are uncovered, and stop the writer."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
        if self._uncovered:
            await self._checkpoint_quietly()

    async def _write_batches(self) -> None:
        try:
            await self._write_until_closed()
        finally:
            # Whatever stopped the writer, no append may wait for it forever.
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if isinstance(pending, _Pending) and not pending.done.done():
                    pending.done.set_exception(AuditUnavailable("the audit log's writer has stopped"))

    async def _write_until_closed(self) -> None:
        while True:
            first = await self._next()
            if first is None and not self._closed:
                continue  # the checkpoint timer fired
            batch = [] if first is None else [first]
            size = sum(len(pending.entries) for pending in batch)
            while size < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    self._closed = True
                    break
                if isinstance(item, _Pending):
                    batch.append(item)
                    size += len(item.entries)
            if batch:
                await self._commit_batch(batch)
            if self._closed and self._queue.empty():
                return

    async def _next(self) -> _Pending | None:
        """The next queued append; None at close or when a checkpoint falls due while idle (after signing it)."""
        if not self._uncovered:
            item = await self._queue.get()
        else:
            remaining = self._last_checkpoint + self._interval - time.monotonic()
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout=max(remaining, 0.0))
            except TimeoutError:
                await self._checkpoint_quietly()
                return None
        if isinstance(item, _Wake):
            return None
        if item is None:
            self._closed = True
        return item

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            start = await self._commit(batch)
        except Exception as exc:  # every waiting append must learn of the failure, whatever it was
            log.warning("audit batch of %d entries not committed: %s", len(batch), type(exc).__name__)
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(AuditUnavailable("the audit entry could not be committed"))
            self._size = -1
            return
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(start)
            start += len(pending.entries)
        self._uncovered = True
        if time.monotonic() - self._last_checkpoint >= self._interval:
            await self._checkpoint_quietly()

    async def _commit(self, batch: Sequence[_Pending]) -> int:
        if self._size >= 0 and not self._database.is_sqlite:
            start = await self._commit_in_one_statement(batch)
            if start is not None:
                return start
        return await self._commit_in_transaction(batch)

    async def _commit_in_one_statement(self, batch: Sequence[_Pending]) -> int | None:
        """PostgreSQL, when this process wrote the last batch (its cached size and border are current): the
        whole batch as one statement, in one round trip. The sequencer is bumped only from the size this
        process last committed (``WHERE tree_size = $expected``); entries, subject index, node hashes and the
        writers' rows are written only if that bump happened (data-modifying CTEs, RFC 9162 §2.1 hashes
        computed here from the cached border), and the statement commits by itself. None when another process
        (or a transaction of :meth:`append_within`) appended meanwhile: then nothing was written, and the
        transaction path reads the current border and commits the batch."""
        staged = _staged(batch, self._size)
        writers = tuple(staged)
        if any(writer.unnest is None for writer in writers):
            return None
        entries = [prepared for pending in batch for prepared in pending.entries]
        start = self._size
        completed, new_frontier = append_leaves(self._frontier, [leaf_hash(prepared.entry) for prepared in entries])
        leaves = range(start, start + len(entries))
        parameters: list[Any] = [
            len(entries),
            start,
            list(leaves),
            [prepared.entry for prepared in entries],
            *(list(column) for column in zip(*(prepared.columns for prepared in entries), strict=True)),
            [ref for prepared in entries for ref in prepared.subject_refs],
            [leaf for leaf, prepared in zip(leaves, entries, strict=True) for _ in prepared.subject_refs],
            [node.level for node, _ in completed],
            [node.index for node, _ in completed],
            [value for _, value in completed],
        ]
        for writer in writers:
            unnest = writer.unnest
            assert unnest is not None
            parameters.extend(unnest.arrays(staged[writer]))
        async with autocommit_driver(self._database) as driver:
            row = await driver.fetchrow(_one_statement(writers), *parameters)
        assert row is not None  # the statement always returns its one row
        if row["tree_size"] is None:
            log.debug("another process appended to the audit log: committing this batch in a transaction")
            return None
        for number, writer in enumerate(writers):
            unnest = writer.unnest
            assert unnest is not None
            if unnest.counted is not None:
                unnest.counted(staged[writer], row[f"w{number}"])
        self._size, self._frontier = start + len(entries), new_frontier
        return start

    async def _commit_in_transaction(self, batch: Sequence[_Pending]) -> int:
        async with self._database.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # Take SQLite's write lock at BEGIN, waiting under busy_timeout: a deferred transaction can
                # fail at once (SQLITE_BUSY_SNAPSHOT) when another process commits while it waits to write.
                await (await driver_connection(connection)).execute("BEGIN IMMEDIATE")
            start, size, new_frontier = await self._write(
                connection, [prepared for pending in batch for prepared in pending.entries]
            )
            for writer, items in _staged(batch, start).items():
                await writer.write(connection, items)
        self._size, self._frontier = size, new_frontier
        return start

    async def _write(
        self, connection: AsyncConnection, entries: Sequence[_Prepared]
    ) -> tuple[int, int, list[tuple[Node, bytes]]]:
        """Append ``entries`` in ``connection``'s transaction; returns the first leaf index, the new tree size
        and the new right border (for this process's cache, once committed)."""
        # First statement, and a write: the lock it takes orders this batch after every committed one
        # (a SQLite transaction that reads first could not upgrade to writing once another committed).
        if connection.dialect.name == "sqlite":  # one hop to aiosqlite's thread, where SQLAlchemy takes four
            found = await (await driver_connection(connection)).execute_fetchall(_BUMP_SQLITE, (len(entries),))
            size = int(found[0][0])
        else:
            size = (
                await connection.execute(
                    update(AuditSequencer)
                    .where(AuditSequencer.id == 1)
                    .values(tree_size=AuditSequencer.tree_size + len(entries))
                    .returning(AuditSequencer.tree_size)
                )
            ).scalar_one()
        start = size - len(entries)
        border = self._frontier if start == self._size else await _store.frontier(connection, start)
        completed, new_frontier = append_leaves(border, [leaf_hash(prepared.entry) for prepared in entries])
        await insert_rows(
            connection,
            AuditEntryRow,
            ("leaf_index", "entry", "entry_type", "logged_at", "actor", "purpose"),
            [(start + offset, prepared.entry, *prepared.columns) for offset, prepared in enumerate(entries)],
        )
        subjects = [(ref, start + offset) for offset, prepared in enumerate(entries) for ref in prepared.subject_refs]
        await insert_rows(connection, AuditSubject, ("subject_ref", "leaf_index"), subjects)
        await insert_rows(
            connection,
            AuditNode,
            ("level", "index", "hash"),
            [(node.level, node.index, value) for node, value in completed],
        )
        return start, size, new_frontier

    # -- checkpoints -----------------------------------------------------------------------------------

    async def checkpoint(self, *, viewer: Viewer | None = None) -> StoredCheckpoint | None:
        """A signed checkpoint of the current tree: the stored one if the tree has not grown since, else a
        new one. None while the log is empty. Shown to ``viewer`` (audited) when there is one."""
        found = await self._sign_checkpoint()
        if found is not None and viewer is not None:
            await self._viewed(viewer, "checkpoint", AuditQuery(), (), 1)
        return found

    async def _sign_checkpoint(self) -> StoredCheckpoint | None:
        async with _reading(self._database.engine.connect()) as connection:
            size = await _store.tree_size(connection)
            if size == 0:
                return None
            existing = await _checkpoint_at(connection, size)
            if existing is not None:
                return existing
            root = fold([value for _, value in await _store.frontier(connection, size)])
        signed_at = datetime.now(UTC)
        note = self._key.sign(Checkpoint(self.origin, size, root), timestamp=int(signed_at.timestamp()))
        row = {"tree_size": size, "root_hash": root, "signed_at": signed_at, "note": note}
        # A transaction of its own that writes first (see _commit); another process may have signed this
        # size meanwhile, and then its checkpoint is the one kept.
        async with _reading(self._database.engine.begin()) as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            await connection.execute(dialect.insert(AuditCheckpoint).values(row).on_conflict_do_nothing())
            stored = await _checkpoint_at(connection, size)
        assert stored is not None
        return stored

    async def _checkpoint_quietly(self) -> None:
        # A checkpoint that fails now is retried after the next commit; appends must not fail for it.
        self._last_checkpoint = time.monotonic()
        try:
            await self._sign_checkpoint()
        except Exception as exc:  # the writer must survive anything a checkpoint runs into
            log.warning("audit checkpoint not written: %s", type(exc).__name__)
            return
        self._uncovered = False

    async def latest_checkpoint(self, *, viewer: Viewer | None = None) -> StoredCheckpoint | None:
        """The latest signed checkpoint; shown to ``viewer`` (audited) when there is one."""
        async with _reading(self._database.engine.connect()) as connection:
            size = (await connection.execute(select(func.max(AuditCheckpoint.tree_size)))).scalar_one_or_none()
            latest = None if size is None else await _checkpoint_at(connection, size)
        if latest is not None and viewer is not None:
            await self._viewed(viewer, "checkpoint", AuditQuery(), (), 1)
        return latest

    # -- proofs ----------------------------------------------------------------------------------------

    async def tree_size(self) -> int:
        async with _reading(self._database.engine.connect()) as connection:
            return await _store.tree_size(connection)

    async def inclusion_proof(
        self, leaf_index: int, tree_size: int | None = None, *, with_entry: bool = False, viewer: Viewer | None = None
    ) -> InclusionProof:
        """RFC 9162 inclusion proof of a leaf in the tree of ``tree_size`` (default: the latest checkpoint's
        tree if it holds the leaf, else the current tree), with that tree's checkpoint if one was signed."""
        if self._database.is_sqlite:
            read = await self._inclusion_rows_core(leaf_index, tree_size, with_entry)
        else:
            read = await self._inclusion_rows_pg(leaf_index, tree_size, with_entry)
        tree_size, hashes, checkpoint, entry = read
        if viewer is not None:
            await self._viewed(viewer, "inclusion_proof", AuditQuery(start=leaf_index), (), 1)
        root_nodes = subtree_nodes(0, tree_size)
        return InclusionProof(
            leaf_index=leaf_index,
            tree_size=tree_size,
            leaf_hash=hashes[Node(0, leaf_index)],
            proof=tuple(inclusion_plan(leaf_index, tree_size).assemble(hashes)),
            root_hash=fold([hashes[node] for node in root_nodes]),
            entry=entry,
            checkpoint=None if checkpoint is None else checkpoint.note,
        )

    async def _inclusion_rows_core(self, leaf_index: int, tree_size: int | None, with_entry: bool) -> _ProofRows:
        async with _reading(self._database.engine.connect()) as connection:
            current = await _store.tree_size(connection)
            if tree_size is None:
                latest = (await connection.execute(select(func.max(AuditCheckpoint.tree_size)))).scalar_one_or_none()
                tree_size = latest if latest is not None and latest > leaf_index else current
            _check_leaf(leaf_index, tree_size, current)
            hashes = await _store.read_nodes(connection, _inclusion_nodes(leaf_index, tree_size))
            checkpoint = await _checkpoint_at(connection, tree_size)
            entry = None
            if with_entry:
                stored = (
                    await connection.execute(select(AuditEntryRow.entry).where(AuditEntryRow.leaf_index == leaf_index))
                ).scalar_one()
                # SQLite returns text for a row someone rewrote with a text function; the proof then fails.
                entry = stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)
        return tree_size, hashes, checkpoint, entry

    async def _inclusion_rows_pg(self, leaf_index: int, tree_size: int | None, with_entry: bool) -> _ProofRows:
        """One round trip when the tree size is given (the sizes first when it is not): the current size, the
        nodes, the checkpoint of that size and the entry in one statement on the pooled asyncpg connection,
        each statement its own snapshot (nodes never change once written, so a later snapshot has them)."""
        async with autocommit_driver(self._database) as driver:
            if tree_size is None:
                current, latest = await driver.fetchrow(_SIZES_PG)
                tree_size = latest if latest is not None and latest > leaf_index else current
            _check_leaf(leaf_index, tree_size, None)
            wanted = sorted(_inclusion_nodes(leaf_index, tree_size))
            row = await driver.fetchrow(
                _PROOF_READ_PG,
                [node.level for node in wanted],
                [node.index for node in wanted],
                tree_size,
                leaf_index if with_entry else -1,
            )
        _check_leaf(leaf_index, tree_size, row["current"])
        hashes = {Node(level, index): bytes(value) for level, index, value in row["nodes"]}
        if len(hashes) != len(wanted):
            raise StoreUnavailable("stored tree nodes are missing; run `hedui audit verify`")
        checkpoint = None
        if row["checkpoint"] is not None:
            size, root_hash, signed_at, note = row["checkpoint"]
            checkpoint = StoredCheckpoint(size, bytes(root_hash), signed_at.astimezone(UTC), note)
        entry = bytes(row["entry"]) if with_entry and row["entry"] is not None else None
        if with_entry and entry is None:
            raise StoreUnavailable("a stored audit entry is missing; run `hedui audit verify`")
        return tree_size, hashes, checkpoint, entry

    async def consistency_proof(self, first: int, second: int, *, viewer: Viewer | None = None) -> ConsistencyProof:
        """RFC 9162 consistency proof from the tree of size ``first`` to the tree of size ``second``."""
        if not 0 < first <= second:
            raise InvalidInput("a consistency proof needs 0 < first <= second")
        async with _reading(self._database.engine.connect()) as connection:
            if second > await _store.tree_size(connection):
                raise NotFound("the log is not that large")
            plan = consistency_plan(first, second)
            first_nodes, second_nodes = subtree_nodes(0, first), subtree_nodes(0, second)
            hashes = await _store.read_nodes(connection, plan.nodes() | set(first_nodes) | set(second_nodes))
        if viewer is not None:
            await self._viewed(viewer, "consistency_proof", AuditQuery(start=first, end=second), (), 0)
        return ConsistencyProof(
            first_size=first,
            second_size=second,
            first_root=fold([hashes[node] for node in first_nodes]),
            second_root=fold([hashes[node] for node in second_nodes]),
            proof=tuple(plan.assemble(hashes)),
        )

    # -- entries, search, subject access ---------------------------------------------------------------

    async def entries(self, start: int, end: int, *, viewer: Viewer | None = None) -> list[LoggedEntry]:
        """Entries ``[start, end)``, at most :data:`MAX_PAGE`."""
        if not 0 <= start < end or end - start > MAX_PAGE:
            raise InvalidInput(f"a range is 0 <= start < end, at most {MAX_PAGE} entries")
        statement = (
            select(AuditEntryRow.leaf_index, AuditEntryRow.entry)
            .where(AuditEntryRow.leaf_index >= start, AuditEntryRow.leaf_index < end)
            .order_by(AuditEntryRow.leaf_index)
        )
        found = await self._select_entries(statement)
        if viewer is not None:
            await self._viewed(viewer, "entries", AuditQuery(start=start, end=end), (), len(found))
        return found

    async def entries_at(self, leaf_indices: Iterable[int]) -> list[LoggedEntry]:
        """The entries at these leaves (for the hub's own use: not audited as a view)."""
        wanted = sorted(set(leaf_indices))
        if not wanted:
            return []
        statement = (
            select(AuditEntryRow.leaf_index, AuditEntryRow.entry)
            .where(AuditEntryRow.leaf_index.in_(wanted))
            .order_by(AuditEntryRow.leaf_index)
        )
        return await self._select_entries(statement)

    async def search(
        self,
        *,
        member: str | None = None,
        purpose: str | None = None,
        types: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        subject_id_number: str | None = None,
        after: int | None = None,
        limit: int = 100,
        viewer: Viewer | None = None,
    ) -> list[LoggedEntry]:
        """Entries matching every given filter, by leaf index; page on with ``after`` = the last index seen.

        ``subject_id_number`` is looked up by its subject_ref (HMAC-SHA256 under the hub's pepper); the
        number itself is neither stored nor logged.
        """
        if not 0 < limit <= MAX_PAGE:
            raise InvalidInput(f"limit is 1 to {MAX_PAGE}")
        query = AuditQuery(
            member=member,
            purpose=purpose,
            types=tuple(types),
            since=since,
            until=until,
            by_subject=bool(subject_id_number),
        )
        refs = (subject_ref(self._pepper, subject_id_number),) if subject_id_number else ()
        statement = select(AuditEntryRow.leaf_index, AuditEntryRow.entry)
        if refs:
            statement = statement.join(AuditSubject, AuditSubject.leaf_index == AuditEntryRow.leaf_index).where(
                AuditSubject.subject_ref == refs[0]
            )
        if query.member is not None:
            statement = statement.where(AuditEntryRow.actor == query.member)
        if query.purpose is not None:
            statement = statement.where(AuditEntryRow.purpose == query.purpose)
        if query.types:
            statement = statement.where(AuditEntryRow.entry_type.in_(query.types))
        if query.since is not None:
            statement = statement.where(AuditEntryRow.logged_at >= query.since)
        if query.until is not None:
            statement = statement.where(AuditEntryRow.logged_at < query.until)
        if after is not None:
            statement = statement.where(AuditEntryRow.leaf_index > after)
        found = await self._select_entries(statement.order_by(AuditEntryRow.leaf_index).limit(limit))
        if viewer is not None:
            await self._viewed(viewer, "search", query, refs, len(found))
        return found

    async def subject_access_report(self, id_number: str, *, viewer: Viewer | None = None) -> SubjectAccessReport:
        """Every access to one person's data (docs/architecture.md §9), from the entries carrying their subject_ref."""
        ref = subject_ref(self._pepper, id_number)
        statement = (
            select(AuditEntryRow.leaf_index, AuditEntryRow.entry)
            .join(AuditSubject, AuditSubject.leaf_index == AuditEntryRow.leaf_index)
            .where(AuditSubject.subject_ref == ref)
            .order_by(AuditEntryRow.leaf_index)
            .limit(MAX_REPORT_ENTRIES + 1)
        )
        found = await self._select_entries(statement)
        truncated = len(found) > MAX_REPORT_ENTRIES
        accesses = subject_accesses((item.leaf_index, item.entry) for item in found[:MAX_REPORT_ENTRIES])
        if viewer is not None:
            await self._viewed(viewer, "subject_report", AuditQuery(by_subject=True), (ref,), len(accesses))
        return SubjectAccessReport(ref, datetime.now(UTC), accesses, truncated)

    async def _select_entries(self, statement: Any) -> list[LoggedEntry]:
        async with _reading(self._database.engine.connect()) as connection:
            rows = (await connection.execute(statement)).all()
        return [LoggedEntry(row.leaf_index, json.loads(row.entry)) for row in rows]

    async def _viewed(self, viewer: Viewer, view: str, query: AuditQuery, refs: Iterable[str], count: int) -> None:
        await self.append(
            AuditViewed(
                actor=viewer.member,
                operator=viewer.operator,
                view=view,
                query=query,
                subject_refs=tuple(refs),
                result_count=count,
            )
        )


# -- reading the store ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _reading(opening: Any) -> AsyncIterator[AsyncConnection]:
    try:
        async with opening as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StoreUnavailable("the audit log could not be read") from exc


# What an inclusion proof is made of: the tree size it is for, the node hashes, that tree's checkpoint (if one
# was signed) and the leaf's entry (if asked for).
_ProofRows = tuple[int, dict[Node, bytes], "StoredCheckpoint | None", bytes | None]

_SIZES_PG = (
    "SELECT (SELECT tree_size FROM audit_sequencer WHERE id = 1), (SELECT max(tree_size) FROM audit_checkpoints)"
)

_PROOF_READ_PG = """
SELECT
    (SELECT tree_size FROM audit_sequencer WHERE id = 1) AS current,
    ARRAY(
        SELECT ROW(n.level, n."index", n.hash)
        FROM unnest($1::smallint[], $2::bigint[]) AS wanted(level, idx)
        JOIN audit_nodes AS n ON n.level = wanted.level AND n."index" = wanted.idx
    ) AS nodes,
    (SELECT ROW(tree_size, root_hash, signed_at, note) FROM audit_checkpoints WHERE tree_size = $3) AS checkpoint,
    (SELECT entry FROM audit_entries WHERE leaf_index = $4) AS entry
"""


def _inclusion_nodes(leaf_index: int, tree_size: int) -> set[Node]:
    """Every stored node an inclusion proof reads: the path's, the root's perfect subtrees and the leaf."""
    return inclusion_plan(leaf_index, tree_size).nodes() | set(subtree_nodes(0, tree_size)) | {Node(0, leaf_index)}


def _check_leaf(leaf_index: int, tree_size: int, current: int | None) -> None:
    """:class:`NotFound` unless the leaf is in the tree of ``tree_size`` and that tree is committed (``current``
    None: not known yet)."""
    if not 0 <= leaf_index < tree_size or (current is not None and tree_size > current):
        raise NotFound("no such leaf in a tree of that size")


async def _checkpoint_at(connection: AsyncConnection, size: int) -> StoredCheckpoint | None:
    row = (await connection.execute(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == size))).first()
    if row is None:
        return None
    # SQLite returns stored times without their offset; every stored time is UTC.
    signed_at = row.signed_at if row.signed_at.tzinfo else row.signed_at.replace(tzinfo=UTC)
    return StoredCheckpoint(row.tree_size, bytes(row.root_hash), signed_at.astimezone(UTC), row.note)


def _staged(batch: Sequence[_Pending], start: int) -> dict[AlongsideWriter, list[tuple[int, Any]]]:
    """The batch's payloads by writer, each with the leaf index of its append's first entry."""
    staged: dict[AlongsideWriter, list[tuple[int, Any]]] = {}
    first = start
    for pending in batch:
        if pending.alongside is not None:
            writer, payload = pending.alongside
            staged.setdefault(writer, []).append((first, payload))
        first += len(pending.entries)
    return staged


_BUMP_SQLITE = "UPDATE audit_sequencer SET tree_size = tree_size + ? WHERE id = 1 RETURNING tree_size"

_APPEND_IN_ONE_STATEMENT = """
WITH appended AS (
    UPDATE audit_sequencer SET tree_size = tree_size + $1 WHERE id = 1 AND tree_size = $2 RETURNING tree_size
), entries AS (
    INSERT INTO audit_entries (leaf_index, entry, entry_type, logged_at, actor, purpose)
    SELECT u.* FROM unnest($3::bigint[], $4::bytea[], $5::varchar[], $6::timestamptz[], $7::varchar[], $8::varchar[])
        AS u WHERE EXISTS (SELECT 1 FROM appended)
), subjects AS (
    INSERT INTO audit_subjects (subject_ref, leaf_index)
    SELECT u.* FROM unnest($9::varchar[], $10::bigint[]) AS u WHERE EXISTS (SELECT 1 FROM appended)
), nodes AS (
    INSERT INTO audit_nodes (level, "index", hash)
    SELECT u.* FROM unnest($11::smallint[], $12::bigint[], $13::bytea[]) AS u WHERE EXISTS (SELECT 1 FROM appended)
)"""
_APPEND_PARAMETERS = 13


@functools.cache
def _one_statement(writers: tuple[AlongsideWriter, ...]) -> str:
    """The single-statement commit with these writers' statements (one text per combination: asyncpg
    prepares each once per connection). Every data-modifying CTE runs whether or not the final SELECT reads
    it (PostgreSQL §7.8.4); each is conditional on ``appended``."""
    parts = [_APPEND_IN_ONE_STATEMENT]
    counts = []
    next_parameter = _APPEND_PARAMETERS + 1
    for number, writer in enumerate(writers):
        unnest = writer.unnest
        assert unnest is not None
        placeholders = [f"${next_parameter + offset}" for offset in range(unnest.arity)]
        next_parameter += unnest.arity
        statement = unnest.statement.format(*placeholders, appended="EXISTS (SELECT 1 FROM appended)")
        parts.append(f", w{number} AS ({statement})")
        counts.append(f", (SELECT count(*) FROM w{number}) AS w{number}")  # noqa: S608 (constants and numbers only)
    final = "\nSELECT (SELECT tree_size FROM appended) AS tree_size"
    return "".join(parts) + final + "".join(counts)
