"""Tables of bulk re-verification: batches, their items, and the database work queue.

An item's request body holds identity numbers, so it is stored only encrypted to the hub's storage key
(AES-256-GCM, the item key as associated data); every other column is free of personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class Batch(Base):
    """One batch of a requester. ``state``: open (takes items), closed (intake ended), cancelled."""

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requester: Mapped[str] = mapped_column(String(128))
    batch_ref: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    item_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_batches_requester_ref", "requester", "batch_ref", unique=True),)


class BatchItem(Base):
    """One household of a batch; its key is ``<batch_id>:<index>``. ``state``: queued, running, done, failed,
    cancelled. ``verification_id`` is the attempt in progress while running, the result once done."""

    __tablename__ = "batch_items"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    item_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    published: Mapped[bool]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[str] = mapped_column(String(64))
    request_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    verification_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str | None] = mapped_column(String(16))
    recommendation: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_batch_items_state", "batch_id", "state"),
        Index("ix_batch_items_unpublished", "published", "queued_at"),
    )


class QueueMessage(Base):
    """A message of the database work queue: visible when ``available_at`` has passed; a delivery pushes
    ``available_at`` forward by the ack wait (its lease) and counts ``deliveries``; dead letters keep
    their ``dead_reason``."""

    __tablename__ = "queue_messages"

    message_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(String(256))
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]
    dead_reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_queue_messages_ready", "queue", "dead_reason", "available_at"),)


class BatchCallback(Base):
    """The completion notification a batch asked for (docs/batch.md "Completion callback"). ``state``:
    waiting (the batch is not finished), pending (due at ``next_attempt_at``), delivered, failed. A deliverer
    claims a pending row by counting an attempt and pushing ``next_attempt_at`` forward by its lease, so no
    other deliverer sends it meanwhile; the outcome is written only by the holder of that attempt."""

    __tablename__ = "batch_callbacks"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_batch_callbacks_due", "state", "next_attempt_at"),)
