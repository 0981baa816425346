"""The table of facts agencies attested through their edge nodes (migration 0008_attested_facts).

The hub keeps what each edge returned, encrypted at rest under the storage key (AES-256-GCM, the row's key as
associated data), so an auditor can recompute an attestation's ``facts_digest`` long after the verification.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class AttestedFacts(Base):
    __tablename__ = "attested_facts"

    verification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    adapter: Mapped[str] = mapped_column(String(64), primary_key=True)
    edge_member: Mapped[str] = mapped_column(String(128))
    facts_digest: Mapped[str] = mapped_column(String(43))
    facts_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
