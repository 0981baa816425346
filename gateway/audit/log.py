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
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

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
from gateway.store.models import Base

log = logging.getLogger(__name__)

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


@dataclass(slots=True)
class _Pending:
    entry: bytes
    columns: tuple[str, datetime, str, str | None]  # the copies searches filter on: type, time, actor, purpose
    subject_refs: tuple[str, ...]
    done: asyncio.Future[int]


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
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=max_batch * 8)
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
        if self._closed:
            raise AuditUnavailable("the audit log is closed")
        pending = _pending(entry)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name="audit-log-writer")
        elif self._writer.done():
            raise AuditUnavailable("the audit log's writer has stopped")
        await self._queue.put(pending)
        return await pending.done

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
                if pending is not None and not pending.done.done():
                    pending.done.set_exception(AuditUnavailable("the audit log's writer has stopped"))

    async def _write_until_closed(self) -> None:
        while True:
            first = await self._next()
            if first is None and not self._closed:
                continue  # the checkpoint timer fired
            batch = [] if first is None else [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    self._closed = True
                    break
                batch.append(item)
            if batch:
                await self._commit_batch(batch)
            if self._closed and self._queue.empty():
                return

    async def _next(self) -> _Pending | None:
        """The next queued append; None at close or when a checkpoint falls due while idle (after signing it)."""
        if not self._uncovered:
            return await self._queue.get()
        remaining = self._last_checkpoint + self._interval - time.monotonic()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout=max(remaining, 0.0))
        except TimeoutError:
            await self._checkpoint_quietly()
            return None

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
        for offset, pending in enumerate(batch):
            if not pending.done.done():
                pending.done.set_result(start + offset)
        self._uncovered = True
        if time.monotonic() - self._last_checkpoint >= self._interval:
            await self._checkpoint_quietly()

    async def append_within(self, connection: AsyncConnection, *entries: AuditEntry) -> list[int]:
        """Append ``entries`` inside the caller's open transaction on ``connection``, so that they commit, or
        roll back, together with the state change they record; returns their leaf indices. The sequencer's
        lock is held from here to that commit, so append last and commit soon. On SQLite the transaction
        must have taken the write lock at its start (``BEGIN IMMEDIATE``)."""
        if self._closed:
            raise AuditUnavailable("the audit log is closed")
        batch = [_pending(entry) for entry in entries]
        start, _, _ = await self._append_rows(connection, batch, cached_border=False)
        self._uncovered = True
        return list(range(start, start + len(batch)))

    async def _commit(self, batch: Sequence[_Pending]) -> int:
        async with self._database.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                # Take SQLite's write lock at BEGIN, waiting under busy_timeout: a deferred transaction can
                # fail at once (SQLITE_BUSY_SNAPSHOT) when another process commits while it waits to write.
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            start, size, new_frontier = await self._append_rows(connection, batch, cached_border=True)
        self._size, self._frontier = size, new_frontier
        return start

    async def _append_rows(
        self, connection: AsyncConnection, batch: Sequence[_Pending], *, cached_border: bool
    ) -> tuple[int, int, list[tuple[Node, bytes]]]:
        """Sequence ``batch`` and insert its entries, subject index and completed nodes; returns the first
        leaf index, the new tree size and the new right border."""
        # First statement, and a write: the lock it takes orders this batch after every committed one
        # (a SQLite transaction that reads first could not upgrade to writing once another committed).
        size = (
            await connection.execute(
                update(AuditSequencer)
                .where(AuditSequencer.id == 1)
                .values(tree_size=AuditSequencer.tree_size + len(batch))
                .returning(AuditSequencer.tree_size)
            )
        ).scalar_one()
        start = size - len(batch)
        cached = cached_border and start == self._size
        border = self._frontier if cached else await _store.frontier(connection, start)
        completed, new_frontier = append_leaves(border, [leaf_hash(pending.entry) for pending in batch])
        await _insert(
            connection,
            AuditEntryRow,
            ("leaf_index", "entry", "entry_type", "logged_at", "actor", "purpose"),
            [(start + offset, pending.entry, *pending.columns) for offset, pending in enumerate(batch)],
        )
        subjects = [(ref, start + offset) for offset, pending in enumerate(batch) for ref in pending.subject_refs]
        await _insert(connection, AuditSubject, ("subject_ref", "leaf_index"), subjects)
        await _insert(
            connection,
            AuditNode,
            ("level", "index", "hash"),
            [(node.level, node.index, value) for node, value in completed],
        )
        return start, size, new_frontier

    # -- checkpoints -----------------------------------------------------------------------------------

    async def checkpoint(self) -> StoredCheckpoint | None:
        """A signed checkpoint of the current tree: the stored one if the tree has not grown since, else a
        new one. None while the log is empty."""
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
            await self.checkpoint()
        except Exception as exc:  # the writer must survive anything a checkpoint runs into
            log.warning("audit checkpoint not written: %s", type(exc).__name__)
            return
        self._uncovered = False

    async def latest_checkpoint(self) -> StoredCheckpoint | None:
        async with _reading(self._database.engine.connect()) as connection:
            size = (await connection.execute(select(func.max(AuditCheckpoint.tree_size)))).scalar_one_or_none()
            return None if size is None else await _checkpoint_at(connection, size)

    # -- proofs ----------------------------------------------------------------------------------------

    async def tree_size(self) -> int:
        async with _reading(self._database.engine.connect()) as connection:
            return await _store.tree_size(connection)

    async def inclusion_proof(
        self, leaf_index: int, tree_size: int | None = None, *, with_entry: bool = False
    ) -> InclusionProof:
        """RFC 9162 inclusion proof of a leaf in the tree of ``tree_size`` (default: the latest checkpoint's
        tree if it holds the leaf, else the current tree), with that tree's checkpoint if one was signed."""
        async with _reading(self._database.engine.connect()) as connection:
            current = await _store.tree_size(connection)
            if tree_size is None:
                latest = (await connection.execute(select(func.max(AuditCheckpoint.tree_size)))).scalar_one_or_none()
                tree_size = latest if latest is not None and latest > leaf_index else current
            if not 0 <= leaf_index < tree_size <= current:
                raise NotFound("no such leaf in a tree of that size")
            plan = inclusion_plan(leaf_index, tree_size)
            root_nodes = subtree_nodes(0, tree_size)
            hashes = await _store.read_nodes(connection, plan.nodes() | set(root_nodes) | {Node(0, leaf_index)})
            checkpoint = await _checkpoint_at(connection, tree_size)
            entry = None
            if with_entry:
                stored = (
                    await connection.execute(select(AuditEntryRow.entry).where(AuditEntryRow.leaf_index == leaf_index))
                ).scalar_one()
                # SQLite returns text for a row someone rewrote with a text function; the proof then fails.
                entry = stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)
        return InclusionProof(
            leaf_index=leaf_index,
            tree_size=tree_size,
            leaf_hash=hashes[Node(0, leaf_index)],
            proof=tuple(plan.assemble(hashes)),
            root_hash=fold([hashes[node] for node in root_nodes]),
            entry=entry,
            checkpoint=None if checkpoint is None else checkpoint.note,
        )

    async def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """RFC 9162 consistency proof from the tree of size ``first`` to the tree of size ``second``."""
        if not 0 < first <= second:
            raise InvalidInput("a consistency proof needs 0 < first <= second")
        async with _reading(self._database.engine.connect()) as connection:
            if second > await _store.tree_size(connection):
                raise NotFound("the log is not that large")
            plan = consistency_plan(first, second)
            first_nodes, second_nodes = subtree_nodes(0, first), subtree_nodes(0, second)
            hashes = await _store.read_nodes(connection, plan.nodes() | set(first_nodes) | set(second_nodes))
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

    async def record_view(
        self, viewer: Viewer, view: str, query: AuditQuery | None = None, refs: Iterable[str] = (), count: int = 0
    ) -> None:
        """Audit an auditor's look at the log (checkpoints and proofs too: every call is audited)."""
        await self._viewed(viewer, view, query or AuditQuery(), refs, count)

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


# -- the store -----------------------------------------------------------------------------------------


def _pending(entry: AuditEntry) -> _Pending:
    return _Pending(
        entry=canonical_entry(entry),
        columns=(entry.type, entry.time, entry.actor, getattr(entry, "purpose", None)),
        subject_refs=tuple(dict.fromkeys(getattr(entry, "subject_refs", ()))),
        done=asyncio.get_running_loop().create_future(),
    )


async def _insert(
    connection: AsyncConnection, table: type[Base], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert rows within the connection's transaction. On PostgreSQL, by COPY (one round trip, binary rows,
    several times cheaper than INSERT for the server and for Python); elsewhere by one executemany."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # a connection checked out of the pool holds its asyncpg connection
        await driver.copy_records_to_table(table.__tablename__, records=rows, columns=columns)
    else:
        await connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


# -- reading the store ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _reading(opening: Any) -> AsyncIterator[AsyncConnection]:
    try:
        async with opening as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StoreUnavailable("the audit log could not be read") from exc


async def _checkpoint_at(connection: AsyncConnection, size: int) -> StoredCheckpoint | None:
    row = (await connection.execute(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == size))).first()
    if row is None:
        return None
    # SQLite returns stored times without their offset; every stored time is UTC.
    signed_at = row.signed_at if row.signed_at.tzinfo else row.signed_at.replace(tzinfo=UTC)
    return StoredCheckpoint(row.tree_size, bytes(row.root_hash), signed_at.astimezone(UTC), row.note)
