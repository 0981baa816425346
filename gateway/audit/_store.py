"""Reads of the stored tree shared by the log service and the integrity check (I/O edge of the tree math)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.models import AuditNode, AuditSequencer
from gateway.audit.rfc9162 import Node, subtree_nodes
from gateway.errors import StoreUnavailable


async def tree_size(connection: AsyncConnection) -> int:
    """The committed tree size (the sequencer row)."""
    statement = select(AuditSequencer.tree_size).where(AuditSequencer.id == 1)
    return int((await connection.execute(statement)).scalar_one())


async def read_nodes(connection: AsyncConnection, wanted: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of ``wanted`` perfect subtrees, in one query.

    Spelled ``(level = ? AND index IN (...)) OR ...``, one term per level: both databases turn that into
    primary-key look-ups, whereas SQLite scans the whole table for a row-value ``(level, index) IN (...)``.
    """
    levels: dict[int, set[int]] = {}
    for node in wanted:
        levels.setdefault(node.level, set()).add(node.index)
    if not levels:
        return {}
    rows = await connection.execute(
        select(AuditNode.level, AuditNode.index, AuditNode.hash).where(
            or_(
                *(
                    and_(AuditNode.level == level, AuditNode.index.in_(sorted(indices)))
                    for level, indices in sorted(levels.items())
                )
            )
        )
    )
    found = {Node(level, index): bytes(value) for level, index, value in rows}
    if len(found) != sum(len(indices) for indices in levels.values()):
        raise StoreUnavailable("stored tree nodes are missing; run `hedui audit verify`")
    return found


async def frontier(connection: AsyncConnection, size: int) -> list[tuple[Node, bytes]]:
    """The tree of ``size`` as its perfect subtrees with their hashes: what new leaves are appended to."""
    nodes = subtree_nodes(0, size) if size else []
    hashes = await read_nodes(connection, nodes)
    return [(node, hashes[node]) for node in nodes]
