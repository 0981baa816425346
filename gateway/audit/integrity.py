"""The full check behind ``hedui audit verify``: recompute the whole log from its stored entries.

Entries are read in leaf order, a chunk at a time. Each entry's leaf hash is recomputed, and the tree is grown
from those hashes alone, which yields every perfect subtree as it completes; each must equal the stored node.
The copies kept for searching (type, time, actor, purpose, subject index) must match the entry they came from.
Every stored checkpoint must carry a valid signature by the log key and name exactly the recomputed root at its
size, and consecutive checkpoints must be consistent by an RFC 9162 proof built from the stored nodes.

So an edited entry fails its leaf hash; a deleted one leaves a gap (or, with the rows after it renumbered,
fails the leaf hashes from there on); two swapped entries fail at the first of them; rewritten node hashes fail
against the recomputed tree, and a tree rebuilt wholesale to match edited entries fails against the signed
checkpoints, which only the log key can produce. The first failure raises :class:`AuditLogCorrupt`, naming the
entry (``leaf_index``) where one can be named.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import _store
from gateway.audit.checkpoint import Checkpoint, open_checkpoint
from gateway.audit.entries import parse_entry
from gateway.audit.models import AuditCheckpoint, AuditEntryRow, AuditNode, AuditSubject
from gateway.audit.rfc9162 import (
    Node,
    append_leaves,
    consistency_plan,
    fold,
    leaf_hash,
    subtree_nodes,
    verify_consistency,
)
from gateway.errors import AuditEntryInvalid, AuditLogCorrupt, CheckpointInvalid, ProofInvalid
from gateway.store import Database

_CHUNK = 4096
_ENTRY = AuditEntryRow.__table__
_ENTRIES = select(_ENTRY).order_by(_ENTRY.c.leaf_index)


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    tree_size: int
    nodes: int
    checkpoints: int
    root_hash: bytes

    def summary(self) -> str:
        root = base64.b64encode(self.root_hash).decode("ascii")
        return (
            f"audit log intact: {self.tree_size} entries, {self.nodes} node hashes and "
            f"{self.checkpoints} signed checkpoints verified; root {root}"
        )


@dataclass(frozen=True, slots=True)
class _SignedHead:
    size: int
    root: bytes


async def verify_log(database: Database, vkey: str, *older_vkeys: str) -> IntegrityReport:
    """Check the whole log against itself and its checkpoints, each of which must be signed by the log key
    ``vkey`` names or, after a rotation of the log key, by one of the ``older_vkeys``."""
    async with database.engine.connect() as connection:
        heads = await _signed_heads(connection, (vkey, *older_vkeys))
        committed = await _store.tree_size(connection)
        frontier: list[tuple[Node, bytes]] = []
        unmatched = list(heads)
        expected = 0
        while rows := (await connection.execute(_ENTRIES.where(_ENTRY.c.leaf_index >= expected).limit(_CHUNK))).all():
            for row in rows:
                if row.leaf_index != expected:
                    raise _corrupt(expected, "is missing: the entries jump to a later index")
                expected += 1
            completed, new_frontier = append_leaves(frontier, [leaf_hash(_bytes(row.entry)) for row in rows])
            problems = [
                problem
                for problem in (await _copies_problem(connection, rows), await _nodes_problem(connection, completed))
                if problem is not None
            ]
            if problems:
                leaf_index, message = min(problems)
                raise _corrupt(leaf_index, message)
            known = dict(frontier) | dict(completed)
            while unmatched and unmatched[0].size <= expected:
                head = unmatched.pop(0)
                if fold([known[node] for node in subtree_nodes(0, head.size)]) != head.root:
                    raise AuditLogCorrupt(
                        f"the checkpoint of tree size {head.size} does not match the entries: an entry before "
                        f"index {head.size} was altered and the tree rebuilt to hide it",
                        tree_size=head.size,
                    )
            frontier = new_frontier
        if expected < committed:
            raise _corrupt(expected, f"is missing: the log has {committed} entries")
        if expected > committed:
            raise _corrupt(committed, "and later entries lie beyond the committed tree size")
        if unmatched:
            raise AuditLogCorrupt(
                f"a checkpoint of tree size {unmatched[0].size} exceeds the {expected} entries: entries were deleted",
                tree_size=unmatched[0].size,
            )
        stored_nodes = int((await connection.execute(select(func.count()).select_from(AuditNode))).scalar_one())
        if stored_nodes != 2 * expected - bin(expected).count("1"):
            raise AuditLogCorrupt("the node table holds hashes of subtrees that are not in the log")
        await _check_consistency(connection, heads)
    return IntegrityReport(expected, stored_nodes, len(heads), fold([value for _, value in frontier]))


async def _signed_heads(connection: AsyncConnection, vkeys: Sequence[str]) -> list[_SignedHead]:
    heads = []
    rows = await connection.execute(
        select(AuditCheckpoint.tree_size, AuditCheckpoint.root_hash, AuditCheckpoint.note).order_by(
            AuditCheckpoint.tree_size
        )
    )
    for size, root, note in rows:
        checkpoint = _open_with_any(note, vkeys, size)
        if (checkpoint.size, checkpoint.root_hash) != (size, bytes(root)):
            raise AuditLogCorrupt(
                f"the checkpoint row of tree size {size} differs from its signed note", tree_size=size
            )
        heads.append(_SignedHead(checkpoint.size, checkpoint.root_hash))
    return heads


async def _copies_problem(connection: AsyncConnection, rows: Sequence[Row[Any]]) -> tuple[int, str] | None:
    """The first entry whose search columns or subject index rows differ from the entry itself."""
    start, end = rows[0].leaf_index, rows[-1].leaf_index + 1
    rows_found = await connection.execute(
        select(AuditSubject.subject_ref, AuditSubject.leaf_index).where(
            AuditSubject.leaf_index >= start, AuditSubject.leaf_index < end
        )
    )
    stored = {(ref, index) for ref, index in rows_found}
    expected: set[tuple[str, int]] = set()
    for row in rows:
        try:
            entry = parse_entry(_bytes(row.entry))
        except AuditEntryInvalid:
            return row.leaf_index, "is not a valid audit entry"
        copies = (row.entry_type, _utc(row.logged_at), row.actor, row.purpose)
        if copies != (entry.type, entry.time, entry.actor, getattr(entry, "purpose", None)):
            return row.leaf_index, "has search columns that differ from the entry"
        expected.update((ref, row.leaf_index) for ref in getattr(entry, "subject_refs", ()))
    if stored != expected:
        return min(index for _, index in stored ^ expected), "has subject index rows that differ from the entry"
    return None


async def _nodes_problem(
    connection: AsyncConnection, completed: Sequence[tuple[Node, bytes]]
) -> tuple[int, str] | None:
    """The first recomputed perfect subtree whose stored hash differs, as the first entry it covers."""
    levels: dict[int, list[int]] = {}
    for node, _ in completed:
        levels.setdefault(node.level, []).append(node.index)
    stored: dict[Node, bytes] = {}
    for level, indices in levels.items():
        rows = await connection.execute(
            select(AuditNode.index, AuditNode.hash).where(
                AuditNode.level == level, AuditNode.index >= min(indices), AuditNode.index <= max(indices)
            )
        )
        stored.update((Node(level, index), bytes(value)) for index, value in rows)
    for node, value in completed:
        if stored.get(node) != value:
            # Completion order is leaf order: the first mismatch holds the earliest bad entry. A mismatch above
            # the leaves (the leaf hashes matched) means node hashes were rewritten; name the range it covers.
            if node.level == 0:
                return node.index, "was altered or moved: its leaf hash differs from the stored tree"
            return node.begin, f"starts a range up to entry {node.end - 1} whose stored node hash was altered"
    return None


async def _check_consistency(connection: AsyncConnection, heads: Sequence[_SignedHead]) -> None:
    for older, newer in itertools.pairwise(heads):
        plan = consistency_plan(older.size, newer.size)
        proof = plan.assemble(await _store.read_nodes(connection, plan.nodes()))
        try:
            verify_consistency(older.size, newer.size, older.root, newer.root, proof)
        except ProofInvalid as exc:
            raise AuditLogCorrupt(
                f"the checkpoints of tree sizes {older.size} and {newer.size} are not consistent", tree_size=newer.size
            ) from exc


def _utc(moment: datetime) -> datetime:
    # SQLite returns stored times without their offset; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _open_with_any(note: str, vkeys: Sequence[str], size: int) -> Checkpoint:
    problem: CheckpointInvalid | None = None
    for vkey in vkeys:
        try:
            return open_checkpoint(note, vkey).checkpoint
        except CheckpointInvalid as exc:
            problem = exc
    assert problem is not None  # verify_log always passes at least one key
    raise AuditLogCorrupt(f"the checkpoint of tree size {size}: {problem.detail}", tree_size=size) from problem


def _bytes(stored: bytes | str) -> bytes:
    # SQLite keeps whatever storage class a statement wrote: an entry edited with a text function comes back
    # as text. Its bytes are still what was hashed if, and only if, the content is unchanged.
    return stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)


def _corrupt(leaf_index: int, problem: str) -> AuditLogCorrupt:
    return AuditLogCorrupt(f"entry {leaf_index} {problem}", leaf_index=leaf_index)
