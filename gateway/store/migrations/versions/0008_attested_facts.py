"""facts attested by agency edge nodes (docs/federation.md)

Revision ID: 0008_attested_facts
Revises: 0007_verification_lifecycle
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_attested_facts"
down_revision = "0007_verification_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attested_facts",
        sa.Column("verification_id", sa.String(length=36), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=False),
        sa.Column("edge_member", sa.String(length=128), nullable=False),
        sa.Column("facts_digest", sa.String(length=43), nullable=False),
        sa.Column("facts_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("verification_id", "adapter"),
    )


def downgrade() -> None:
    op.drop_table("attested_facts")
