"""The subject access report folds a verification's entries into one access and keeps every other access."""

from __future__ import annotations

from typing import Any

from gateway.audit.subject_report import subject_accesses

MIS = "CN/GOV/11100000MB0348916Y/dibao"
AUDITOR = "CN/GOV/11100000MB9876543F/audit"


def entry(kind: str, time: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "time": time, "actor": MIS, **fields}


def test_a_verification_is_one_access_with_its_outcome_and_sources() -> None:
    entries = [
        (
            3,
            entry(
                "verification.requested",
                "t1",
                operator="staff-1",
                verification_id="v",
                purpose="dibao.review",
                case_id="c",
                categories=["tax", "banking"],
                outcome="accepted",
            ),
        ),
        (4, entry("source.queried", "t2", verification_id="v", source="tax", outcome="ok")),
        (5, entry("source.queried", "t2", verification_id="v", source="banking", outcome="timeout")),
        (6, entry("verification.completed", "t3", verification_id="v", outcome="partial")),
        (9, entry("consent.revoked", "t4", consent_id="k", outcome="revoked")),
        (11, {**entry("audit.viewed", "t5", outcome="shown"), "actor": AUDITOR}),
    ]

    accesses = subject_accesses(reversed(entries))

    assert [access.kind for access in accesses] == ["verification", "consent.revoked", "audit.viewed"]
    verification = accesses[0]
    assert (verification.time, verification.member, verification.operator) == ("t1", MIS, "staff-1")
    assert (verification.purpose, verification.case_id, verification.outcome) == ("dibao.review", "c", "partial")
    assert verification.categories == ["tax", "banking"]
    assert verification.sources == {"tax": "ok", "banking": "timeout"}
    assert verification.leaf_indices == [3, 4, 5, 6]
    assert accesses[2].member == AUDITOR
    assert accesses[1].to_json()["outcome"] == "revoked"


def test_an_unfinished_verification_is_pending_and_a_rejection_is_its_outcome() -> None:
    accesses = subject_accesses(
        [
            (1, entry("verification.requested", "t1", verification_id="a", purpose="p", outcome="accepted")),
            (2, entry("verification.requested", "t2", verification_id="b", purpose="p", outcome="accepted")),
            (
                3,
                entry("verification.rejected", "t3", verification_id="b", reason="consent_missing", outcome="rejected"),
            ),
            (4, entry("consent.granted", "t4", consent_id="k", purposes=["p", "q"], outcome="granted")),
        ]
    )

    assert [(access.verification_id, access.outcome) for access in accesses[:2]] == [
        ("a", "pending"),
        ("b", "rejected"),
    ]
    assert accesses[2].purpose == "p,q"
