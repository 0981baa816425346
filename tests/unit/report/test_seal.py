"""The report seal: a JWS by the hub that verifies under its JWKS, over the report's RFC 8785 digest."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from joserfc.jwk import KeySet

from gateway.envelope import generate_member_jwks, load_jwks
from gateway.errors import ReportSealInvalid
from gateway.report import report_digest, seal_report, verify_seal

REPORT: dict[str, Any] = {
    "verification_id": "949ad038-c938-45b9-92fe-e747e645acfb",
    "case_id": "110101-2026-000001",
    "indicators": {"monthly_income_per_capita": 1000.0},
    "decision": {"recommendation": "eligible"},
}


@pytest.fixture(scope="module")
def keys() -> tuple[KeySet, KeySet]:
    private, public = generate_member_jwks()
    return load_jwks(private), load_jwks(public)


def signing(keys: tuple[KeySet, KeySet]) -> Any:
    return next(key for key in keys[0] if key.get("use") == "sig")


def test_a_seal_verifies_with_and_without_the_report(keys: tuple[KeySet, KeySet]) -> None:
    seal = seal_report(REPORT, signing(keys), issuer="hub")
    claims = verify_seal(seal, keys[1], report=REPORT)
    assert claims["verification_id"] == REPORT["verification_id"]
    assert claims["report_digest"] == report_digest(REPORT)
    assert verify_seal(f"  {seal}\n", keys[1]) == claims


def test_the_digest_is_of_the_rfc8785_form() -> None:
    reordered = dict(reversed(list(REPORT.items())))
    assert report_digest(reordered) == report_digest(REPORT)


def test_a_changed_report_fails(keys: tuple[KeySet, KeySet]) -> None:
    seal = seal_report(REPORT, signing(keys), issuer="hub")
    changed = copy.deepcopy(REPORT)
    changed["decision"]["recommendation"] = "ineligible"
    with pytest.raises(ReportSealInvalid, match="differs"):
        verify_seal(seal, keys[1], report=changed)


def test_another_key_fails(keys: tuple[KeySet, KeySet]) -> None:
    other_private, other_public = generate_member_jwks()
    seal = seal_report(REPORT, signing((load_jwks(other_private), load_jwks(other_public))), issuer="hub")
    with pytest.raises(ReportSealInvalid):
        verify_seal(seal, keys[1])


@pytest.mark.parametrize("text", ["", "not a jws", "a.b.c", "x" * 5000, "eyJhbGciOiJFZERTQSJ9.e30.c2lnbmF0dXJlc2ln"])
def test_garbage_is_refused(keys: tuple[KeySet, KeySet], text: str) -> None:
    with pytest.raises(ReportSealInvalid):
        verify_seal(text, keys[1])


def test_a_tampered_signature_fails(keys: tuple[KeySet, KeySet]) -> None:
    seal = seal_report(REPORT, signing(keys), issuer="hub")
    head, payload, signature = seal.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(ReportSealInvalid):
        verify_seal(f"{head}.{payload}.{flipped}", keys[1])
