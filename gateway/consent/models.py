"""The ``consents`` table (docs/architecture.md §8). Identity numbers appear only as ``subject_ref`` / ``guardian_ref``
HMACs and as AES-256-GCM ciphertexts under the hub's storage key.

``status`` holds what was decided (``active`` or ``revoked``); ``expired`` is derived from ``valid_until``
when a record is read, so no job has to sweep the table and no replica can disagree about it.
Times are UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class Consent(Base):
    __tablename__ = "consents"

    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(64))
    subject_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    controller: Mapped[str] = mapped_column(String(128))
    grantee: Mapped[str] = mapped_column(String(128))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(String(32))
    collection_method: Mapped[str] = mapped_column(String(16))
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    evidence_ref: Mapped[str] = mapped_column(String(256))
    guardian_ref: Mapped[str | None] = mapped_column(String(64))
    guardian_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    guardian_relation: Mapped[str | None] = mapped_column(String(32))
    signed_at: Mapped[datetime]
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revocation_reason: Mapped[str | None] = mapped_column(String(500))
    receipt: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        # The consent check reads a whole household in one query on these two columns.
        Index("ix_consents_subject_grantee", "subject_ref", "grantee"),
        # One signed form registers one consent per person: importing a file twice is refused.
        UniqueConstraint("subject_ref", "evidence_sha256", name="uq_consents_subject_evidence"),
    )
