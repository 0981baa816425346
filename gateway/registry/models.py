"""The registry's table (created by migration 0004). No column holds an identity number in clear."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class Enrollment(Base):
    """A person receives a programme in a region, as reported by the local MIS ``member_id``.

    ``subject_ref`` is HMAC-SHA256(subject pepper, identity number), hex (docs/architecture.md §3): the look-up key.
    ``id_number_sealed`` is the number under AES-256-GCM with the storage key (gateway.store.at_rest), for
    whoever must later contact the agencies again about this person (bulk re-verification).
    ``member_id`` is deliberately not a foreign key: the record outlives the member's registration.
    """

    __tablename__ = "registry_enrollments"

    enrollment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(64))
    id_number_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    programme: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(6))
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    start_date: Mapped[date]
    end_date: Mapped[date | None]  # last day of assistance, inclusive
    monthly_amount_fen: Mapped[int] = mapped_column(BigInteger)  # integer fen: SQLite has no exact decimals
    recorded_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    # Every look-up is by subject (a household's members, one person's search), then by date.
    __table_args__ = (Index("ix_registry_enrollments_subject_start", "subject_ref", "start_date"),)
