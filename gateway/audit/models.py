"""Tables of the audit log (migration 0002).

``audit_entries`` holds each entry's canonical bytes, the input of its leaf hash, and copies of the fields
searches filter on; ``audit_subjects`` indexes entries by subject_ref. ``audit_nodes`` holds the hash of every
complete perfect subtree, leaves included, so a proof reads O(log n) rows. ``audit_sequencer`` is one row whose
lock serialises appends across hub processes. ``audit_checkpoints`` keeps every signed tree head.
Everything except ``audit_entries.entry`` is derived, and ``hedui audit verify`` recomputes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base

# SQLite makes an INTEGER PRIMARY KEY the rowid (no second index); PostgreSQL needs 64 bits.
LeafIndex = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"

    leaf_index: Mapped[int] = mapped_column(LeafIndex, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)  # RFC 8785 JSON: leaf hash = SHA-256(0x00 || entry)
    entry_type: Mapped[str] = mapped_column(String(32))
    logged_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entries_logged_at", "logged_at"),
        Index("ix_audit_entries_actor", "actor", "leaf_index"),
        Index("ix_audit_entries_purpose", "purpose", "leaf_index"),
        Index("ix_audit_entries_type", "entry_type", "leaf_index"),
    )


class AuditSubject(Base):
    __tablename__ = "audit_subjects"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(LeafIndex, primary_key=True, autoincrement=False)


class AuditNode(Base):
    """The hash of the perfect subtree ``(level, index)``: leaves ``[index * 2^level, (index + 1) * 2^level)``."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditSequencer(Base):
    """One row (``id = 1``): the committed tree size. Appends update it first, holding its lock until commit."""

    __tablename__ = "audit_sequencer"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text)  # the signed note, verifiable on its own
