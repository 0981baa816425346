"""Tables of the hub. Identity numbers never appear in any column: only ``subject_ref`` HMACs do.

Times are stored as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Member(Base):
    """A federation member (docs/architecture.md §3): local MIS, agency, auditor or operator."""

    __tablename__ = "members"

    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    # Where the member's batch completion notifications go (docs/batch.md "Completion callback").
    callback_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    keys: Mapped[list[MemberKey]] = relationship(back_populates="member", cascade="all, delete-orphan", lazy="selectin")


class MemberKey(Base):
    """One public JWK of a member; ``kid`` is its RFC 7638 thumbprint. Several per member allow rotation."""

    __tablename__ = "member_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.member_id", ondelete="CASCADE"), index=True)
    use: Mapped[str] = mapped_column(String(8))  # "sig" or "enc"
    jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    member: Mapped[Member] = relationship(back_populates="keys")


class ReplayEntry(Base):
    """A ``jti`` seen on an accepted envelope, kept until its ``exp`` (plus skew) has passed
    (docs/architecture.md §4)."""

    __tablename__ = "replay_cache"

    issuer: Mapped[str] = mapped_column(String(128), primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Verification(Base):
    """A verification and its report. The report body holds personal data only inside ``report_sealed``,
    which is the report encrypted to the hub's own storage key; queries use ids and digests.

    The row is written with ``verification.requested`` (status ``requested``, ``requested_leaf`` its leaf)
    and completed with ``verification.completed`` (status ``complete``/``partial`` and the report), each in
    the same transaction as its entry; a row left ``requested`` by a crash is closed as ``abandoned``."""

    __tablename__ = "verifications"

    verification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requester: Mapped[str] = mapped_column(String(128), index=True)
    case_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    report_digest: Mapped[str | None] = mapped_column(String(64))
    report_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    requested_leaf: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_verifications_requester_created", "requester", "created_at"),
        Index(
            "ix_verifications_open",
            "created_at",
            postgresql_where=text("status = 'requested'"),
            sqlite_where=text("status = 'requested'"),
        ),
    )
