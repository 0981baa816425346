"""national beneficiary registry: enrollments

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_enrollments",
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("id_number_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("programme", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("monthly_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("enrollment_id"),
    )
    op.create_index("ix_registry_enrollments_member_id", "registry_enrollments", ["member_id"])
    op.create_index("ix_registry_enrollments_subject_start", "registry_enrollments", ["subject_ref", "start_date"])


def downgrade() -> None:
    op.drop_index("ix_registry_enrollments_subject_start", table_name="registry_enrollments")
    op.drop_index("ix_registry_enrollments_member_id", table_name="registry_enrollments")
    op.drop_table("registry_enrollments")
