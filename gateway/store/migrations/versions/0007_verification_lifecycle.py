"""verifications: a row from ``verification.requested`` on (status ``requested``), the leaf of that entry,
and a partial index for the sweeper that closes verifications a crash left open.

Revision ID: 0007_verification_lifecycle
Revises: 0006_batches
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_verification_lifecycle"
down_revision = "0006_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_leaf", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_verifications_open",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text("status = 'requested'"),
            sqlite_where=sa.text("status = 'requested'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.drop_index("ix_verifications_open")
        batch_op.drop_column("requested_leaf")
