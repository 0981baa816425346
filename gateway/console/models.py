"""Tables of the auditor console and of misuse detection. No identity numbers: watch-list subjects are
``subject_ref`` HMACs, alerts name leaf indices of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class ConsoleUser(Base):
    """A local console account; ``password_hash`` is an argon2id PHC string."""

    __tablename__ = "console_users"

    username: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # Set for an account that signs in through the OpenID Connect provider (then password_hash is "!oidc").
    oidc_issuer: Mapped[str | None] = mapped_column(String(512))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_console_users_oidc"),)


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(32), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class MisuseAlert(Base):
    """An alert raised by a misuse rule over the audit log (contracts/misuse-rules.yaml)."""

    __tablename__ = "misuse_alerts"

    alert_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(200))  # what the rule counted by: an operator, a member, a subject_ref
    leaf_indices: Mapped[list[Any]] = mapped_column(JSON)
    raised_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None]


class WatchedSubject(Base):
    """A person auditors watch: every look-up of them raises an alert."""

    __tablename__ = "misuse_watch_list"

    subject_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime]


class MisuseCursor(Base):
    """How far misuse detection has read the log: the next leaf index to evaluate."""

    __tablename__ = "misuse_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_leaf: Mapped[int] = mapped_column(Integer)
