"""batch completion callbacks: a member's registered callback URL, and each batch's pending notification

Revision ID: 0010_batch_callbacks
Revises: 0009_console
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_batch_callbacks"
down_revision = "0009_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("callback_url", sa.String(length=2048), nullable=True))
    op.create_table(
        "batch_callbacks",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_index("ix_batch_callbacks_due", "batch_callbacks", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_batch_callbacks_due", table_name="batch_callbacks")
    op.drop_table("batch_callbacks")
    op.drop_column("members", "callback_url")
