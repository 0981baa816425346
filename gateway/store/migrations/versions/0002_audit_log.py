"""audit log: entries, subject index, Merkle nodes, sequencer, checkpoints

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("leaf_index", _LEAF_INDEX, autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("entry_type", sa.String(length=32), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("leaf_index"),
    )
    op.create_index("ix_audit_entries_logged_at", "audit_entries", ["logged_at"])
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor", "leaf_index"])
    op.create_index("ix_audit_entries_purpose", "audit_entries", ["purpose", "leaf_index"])
    op.create_index("ix_audit_entries_type", "audit_entries", ["entry_type", "leaf_index"])
    op.create_table(
        "audit_subjects",
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("leaf_index", _LEAF_INDEX, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("subject_ref", "leaf_index"),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "index"),
    )
    sequencer = op.create_table(
        "audit_sequencer",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The one row every append locks: created here so no two processes ever race to create it.
    op.bulk_insert(sequencer, [{"id": 1, "tree_size": 0}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_sequencer")
    op.drop_table("audit_nodes")
    op.drop_table("audit_subjects")
    op.drop_index("ix_audit_entries_type", table_name="audit_entries")
    op.drop_index("ix_audit_entries_purpose", table_name="audit_entries")
    op.drop_index("ix_audit_entries_actor", table_name="audit_entries")
    op.drop_index("ix_audit_entries_logged_at", table_name="audit_entries")
    op.drop_table("audit_entries")
