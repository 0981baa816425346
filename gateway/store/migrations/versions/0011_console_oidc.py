"""console accounts linked to an OpenID Connect provider's identity (issuer, sub)

Revision ID: 0011_console_oidc
Revises: 0010_batch_callbacks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_console_oidc"
down_revision = "0010_batch_callbacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite adds a constraint by rebuilding the table (PostgreSQL alters it in place).
    with op.batch_alter_table("console_users") as table:
        table.add_column(sa.Column("oidc_issuer", sa.String(length=512), nullable=True))
        table.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        table.create_unique_constraint("uq_console_users_oidc", ["oidc_issuer", "oidc_subject"])


def downgrade() -> None:
    with op.batch_alter_table("console_users") as table:
        table.drop_constraint("uq_console_users_oidc", type_="unique")
        table.drop_column("oidc_subject")
        table.drop_column("oidc_issuer")
