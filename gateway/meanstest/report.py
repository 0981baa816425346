"""The verification report body (docs/architecture.md §6), built from the broker's outcomes and the household facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.broker import SourceOutcome
from gateway.errors import RecordMismatch
from gateway.meanstest.indicators import HouseholdFacts
from gateway.meanstest.policy_model import RECORD_MISMATCH_FLAG
from gateway.meanstest.request import VerificationRequest
from gateway.registry import DUPLICATE_FLAG, DuplicateFinding


def data_flags(facts: HouseholdFacts) -> list[str]:
    """Facts staff must look at whatever the policy says, in a stable order."""
    flags = []
    if facts.indicators.get("deceased_members"):
        flags.append("deceased_member")
    if any(member.registered is False for member in facts.composition):
        flags.append("unregistered_member")
    hukou_count = facts.indicators.get("hukou_count")
    if hukou_count is not None and hukou_count > 1:
        flags.append("split_hukou")
    return flags


def source_entry(outcome: SourceOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "adapter": outcome.adapter,
        "category": outcome.category,
        "status": outcome.status,
        "latency_ms": outcome.latency_ms,
    }
    if outcome.error_code:
        entry["error"] = outcome.error_code
    # The agency's signed statement of the facts (docs/federation.md); null: fetched by the hub itself.
    entry["attestation"] = outcome.result.attestation if outcome.result is not None else None
    if outcome.result is not None:
        provenance = outcome.result.provenance
        entry["provenance"] = {
            "agency": provenance.agency,
            "as_of": provenance.as_of.isoformat(),
            "record_ids": list(provenance.record_ids),
        }
    return entry


def build_report(
    *,
    verification_id: str,
    request: VerificationRequest,
    outcomes: Sequence[SourceOutcome],
    facts: HouseholdFacts,
    duplicates: Sequence[DuplicateFinding] = (),
    consent_ids: Sequence[str] = (),
    issued_at: datetime | None = None,
) -> dict[str, Any]:
    complete = all(outcome.status == "ok" for outcome in outcomes)
    flags = data_flags(facts)
    if any(outcome.error_code == RecordMismatch.code for outcome in outcomes):
        flags.append(RECORD_MISMATCH_FLAG)  # a source answered about someone else: never eligible
    if duplicates:
        flags.append(DUPLICATE_FLAG)
    return {
        "verification_id": verification_id,
        "case_id": request.case_id,
        "purpose": request.purpose,
        "region": request.region,
        "status": "complete" if complete else "partial",
        "household": {
            "members": [member.as_dict() for member in facts.composition],
            "enrollments": list(facts.enrollments),
        },
        "indicators": facts.indicators,
        "sources": [source_entry(outcome) for outcome in outcomes],
        "flags": flags,
        "duplicates": [finding.as_dict() for finding in duplicates],
        "consents": list(consent_ids),
        "issued_at": (issued_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
