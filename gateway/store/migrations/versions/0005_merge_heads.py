"""Join the three branches 0002 (audit log), 0003 (consents) and 0004 (registry) into one head.

They were written side by side from 0001 and touch disjoint tables, so the merge changes nothing; it gives
later migrations one parent.

Revision ID: 0005_merge_heads
Revises: 0002, 0003, 0004
"""

from __future__ import annotations

revision = "0005_merge_heads"
down_revision = ("0002", "0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
