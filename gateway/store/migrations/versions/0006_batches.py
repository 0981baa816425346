"""bulk re-verification: batches, batch items, database work queue

Revision ID: 0006_batches
Revises: 0005_merge_heads
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_batches"
down_revision = "0005_merge_heads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("batch_ref", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_index("ix_batches_requester_ref", "batches", ["requester", "batch_ref"], unique=True)
    op.create_table(
        "batch_items",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("request_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("verification_id", sa.String(length=36), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("recommendation", sa.String(length=16), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "item_index"),
    )
    op.create_index("ix_batch_items_state", "batch_items", ["batch_id", "state"])
    op.create_index("ix_batch_items_unpublished", "batch_items", ["published", "queued_at"])
    op.create_table(
        "queue_messages",
        sa.Column("message_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.String(length=256), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dead_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_queue_messages_ready", "queue_messages", ["queue", "dead_reason", "available_at"])


def downgrade() -> None:
    op.drop_index("ix_queue_messages_ready", table_name="queue_messages")
    op.drop_table("queue_messages")
    op.drop_index("ix_batch_items_unpublished", table_name="batch_items")
    op.drop_index("ix_batch_items_state", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batches_requester_ref", table_name="batches")
    op.drop_table("batches")
