"""Audit entries: every type validates, canonicalises to RFC 8785 bytes, and refuses raw personal data
without ever echoing it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785

from gateway.audit.entries import (
    ENTRY_TYPES,
    AuditQuery,
    AuditViewed,
    ConsentGranted,
    KeyRotated,
    SourceQueried,
    VerificationRequested,
    canonical_entry,
    parse_entry,
    subject_ref,
)
from gateway.errors import AuditEntryInvalid, InvalidIdNumber, PersonalDataInAuditEntry

PEPPER = bytes(range(32))
ID_NUMBER = "11010519491231002X"  # GB 11643-1999's own example number
MIS = "CN/GOV/11100000MB0348916Y/dibao"
AUDITOR = "CN/GOV/11100000MB9876543F/audit"
REF = hmac.new(PEPPER, ID_NUMBER.encode(), hashlib.sha256).hexdigest()
AT = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)

EXAMPLES: dict[str, dict[str, Any]] = {
    "verification.requested": {
        "verification_id": "6f1c2a9e-3b7d-4e52-9a43-0c1d2e3f4a5b",
        "case_id": "110101-2026-000123",
        "operator": "staff-0042",
        "purpose": "dibao.application",
        "region": "110101",
        "subject_refs": [REF],
        "categories": ["hukou", "tax"],
        "consent_ids": ["b5e0c1d2-0000-4000-8000-000000000001"],
        "request_digest": "a" * 64,
    },
    "verification.completed": {
        "verification_id": "v-1",
        "case_id": "c-1",
        "purpose": "dibao.application",
        "region": "110101",
        "subject_refs": [REF],
        "categories": ["tax"],
        "outcome": "partial",
        "recommendation": "review",
        "report_digest": "b" * 64,
    },
    "verification.rejected": {"reason": "consent_missing", "purpose": "dibao.application"},
    "source.queried": {
        "verification_id": "v-1",
        "purpose": "dibao.application",
        "source": "tax",
        "subject_refs": [REF],
        "categories": ["tax"],
        "outcome": "timeout",
        "latency_ms": 1000,
    },
    "edge.queried": {
        "verification_id": "v-1",
        "purpose": "dibao.application",
        "source": "tax",
        "subject_refs": [REF],
        "request_digest": "d" * 64,
        "facts_sha256": "e" * 64,
        "outcome": "answered",
    },
    "consent.granted": {
        "consent_id": "c-9",
        "subject_refs": [REF],
        "grantee": "110101",
        "purposes": ["dibao.application"],
        "categories": ["tax"],
        "collection_method": "signed_form",
        "evidence_digest": "c" * 64,
        "valid_from": "2026-07-01",
        "valid_until": "2027-06-30",
    },
    "consent.revoked": {"consent_id": "c-9", "subject_refs": [REF], "reason": "subject_request"},
    "registry.enrollment": {
        "enrollment_id": "e-1",
        "subject_refs": [REF],
        "programme": "dibao",
        "region": "110101",
        "outcome": "enrolled",
    },
    "audit.viewed": {"view": "search", "query": {"purpose": "dibao.application"}, "result_count": 3},
    "key.rotated": {"key": "signing", "old_kid": "abc_-1", "new_kid": "def_-2"},
    "member.changed": {"member_id": MIS, "change": "added", "role": "local_mis", "region": "110101"},
    "verification.abandoned": {
        "verification_id": "v-1",
        "case_id": "110101-2026-000123",
        "purpose": "dibao.review",
        "region": "110101",
        "subject_refs": [REF],
        "categories": ["tax"],
        "reason": "not_completed",
        "requested_leaf": 7,
    },
    "batch.changed": {
        "batch_id": "b-1",
        "batch_ref": "review-2026-07",
        "purpose": "dibao.review",
        "change": "item_failed",
        "item_index": 7,
        "reason": "max_attempts",
    },
    "console.user_added": {"account": "auditor1", "role": "auditor"},
    "console.locked": {"account": "auditor1", "failures": 5, "locked_until": AT.isoformat()},
    "alert.acknowledged": {"alert_id": "a-1", "rule": "off_hours"},
    "watchlist.changed": {"subject_refs": [REF], "change": "added"},
}


def example(kind: str, **changes: Any) -> dict[str, Any]:
    return {"type": kind, "time": AT.isoformat(), "actor": MIS, **EXAMPLES[kind], **changes}


def test_every_entry_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(ENTRY_TYPES)


@pytest.mark.parametrize("kind", ENTRY_TYPES)
def test_each_type_round_trips_through_its_canonical_bytes(kind: str) -> None:
    entry = parse_entry(example(kind))
    data = canonical_entry(entry)

    assert entry.type == kind
    assert data == rfc8785.dumps(json.loads(data))  # already canonical: sorted keys, no whitespace
    assert parse_entry(data) == entry
    assert canonical_entry(parse_entry(data)) == data


def test_canonical_bytes_are_jcs_and_leave_out_absent_fields() -> None:
    entry = VerificationRequested(actor=MIS, time=AT, **EXAMPLES["verification.requested"])
    data = canonical_entry(entry)

    document = json.loads(data)
    assert list(document) == sorted(document)
    assert b" " not in data
    assert document["time"] == "2026-07-01T08:00:00Z"
    assert b"recommendation" not in canonical_entry(parse_entry(example("verification.completed", recommendation=None)))


def test_times_are_timezone_aware_and_stored_in_utc() -> None:
    beijing = datetime(2026, 7, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    entry = VerificationRequested(actor=MIS, time=beijing, **EXAMPLES["verification.requested"])
    assert json.loads(canonical_entry(entry))["time"] == "2026-07-01T08:00:00Z"
    with pytest.raises(AuditEntryInvalid, match="time"):
        VerificationRequested(actor=MIS, time=datetime(2026, 7, 1, 8, 0), **EXAMPLES["verification.requested"])


def test_subject_ref_is_hmac_sha256_of_the_normalised_number() -> None:
    assert subject_ref(PEPPER, ID_NUMBER) == REF
    assert subject_ref(PEPPER, ID_NUMBER.lower()) == REF
    assert subject_ref(bytes(32), ID_NUMBER) != REF
    with pytest.raises(InvalidIdNumber):
        subject_ref(PEPPER, "110105194912310021")


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("verification.requested", "case_id", f"case-{ID_NUMBER}"),
        ("verification.requested", "operator", ID_NUMBER),
        ("verification.requested", "verification_id", "110105491231002"),  # a first-generation 15-digit number
        ("verification.requested", "consent_ids", ["6222020200112233445"]),  # a bank card number
        ("audit.viewed", "result_count", 110105194912310021),
        ("key.rotated", "new_kid", ID_NUMBER),
    ],
)
def test_raw_numbers_are_refused_anywhere_without_being_echoed(kind: str, field: str, value: Any) -> None:
    with pytest.raises(PersonalDataInAuditEntry) as caught:
        parse_entry(example(kind, **{field: value}))

    assert field in caught.value.detail
    assert "110105" not in caught.value.detail and "6222" not in caught.value.detail


def test_a_number_in_place_of_a_subject_ref_is_refused_without_echo() -> None:
    with pytest.raises(AuditEntryInvalid) as caught:
        VerificationRequested(actor=MIS, **{**EXAMPLES["verification.requested"], "subject_refs": [ID_NUMBER]})

    assert "subject_refs.0" in caught.value.extensions["fields"]
    assert ID_NUMBER not in str(caught.value) and ID_NUMBER not in repr(caught.value.__cause__)


def test_names_and_free_text_do_not_fit_any_field() -> None:
    for field, value in [("operator", "张三"), ("case_id", "case of Zhang San"), ("purpose", "Dibao")]:
        with pytest.raises(AuditEntryInvalid) as caught:
            parse_entry(example("verification.requested", **{field: value}))
        assert "张三" not in caught.value.detail and "Zhang" not in caught.value.detail


def test_unknown_fields_are_refused_and_their_names_masked_when_odd() -> None:
    with pytest.raises(AuditEntryInvalid) as caught:
        parse_entry(example("verification.requested", name="Zhang San", **{ID_NUMBER: 1}))

    assert caught.value.extensions["fields"] == ["?", "name"]
    assert ID_NUMBER not in caught.value.detail


def test_digests_and_member_ids_with_long_digit_runs_are_allowed() -> None:
    digits = "1" * 64
    entry = SourceQueried(actor=MIS, **{**EXAMPLES["source.queried"], "subject_refs": [digits]})
    assert entry.subject_refs == (digits,)
    KeyRotated(actor="CN/GOV/111000000000000052/hub", key="log")  # an all-digit credit code


def test_required_fields_and_closed_vocabularies() -> None:
    with pytest.raises(AuditEntryInvalid, match="request_digest"):
        parse_entry({k: v for k, v in example("verification.requested").items() if k != "request_digest"})
    with pytest.raises(AuditEntryInvalid, match="outcome"):
        parse_entry(example("source.queried", outcome="maybe"))
    with pytest.raises(AuditEntryInvalid, match="type"):
        parse_entry(example("verification.requested", type="verification.deleted"))
    with pytest.raises(AuditEntryInvalid, match="actor"):
        parse_entry(example("verification.requested", actor="not-a-member"))
    with pytest.raises(AuditEntryInvalid, match="grantee"):
        ConsentGranted(actor=MIS, **{**EXAMPLES["consent.granted"], "grantee": "somebody"})


def test_an_auditors_query_is_logged_in_its_own_vocabulary() -> None:
    entry = AuditViewed(
        actor=AUDITOR,
        view="subject_report",
        query=AuditQuery(by_subject=True, since=AT, until=AT + timedelta(days=1)),
        subject_refs=(REF,),
        result_count=0,
    )
    document = json.loads(canonical_entry(entry))
    assert document["query"] == {
        "by_subject": True,
        "since": "2026-07-01T08:00:00Z",
        "until": "2026-07-02T08:00:00Z",
        "types": [],
    }
    assert document["subject_refs"] == [REF]


def test_consent_dates_are_plain_dates() -> None:
    entry = parse_entry(example("consent.granted"))
    assert isinstance(entry, ConsentGranted)
    assert entry.valid_until == date(2027, 6, 30)


def test_key_ids_are_base64url_thumbprints_with_any_of_its_characters() -> None:
    from gateway.audit import KeyRotated

    for kid in ("-leading-dash_and_underscore", "_x", "abc_DEF-123"):
        assert KeyRotated(actor="CN/GOV/11100000MB0348916Y/hub", key="signing", new_kid=kid).new_kid == kid
