"""Attestations: signed by the agency's key, bound to the facts by an RFC 8785 digest."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date

import pytest
import rfc8785

from adapters.base import Fact
from gateway.edge.attestation import attestation_issuer, digest_hex, facts_digest, sign_attestation, verify_attestation
from gateway.envelope import generate_member_jwks, load_jwks, private_signing_key
from gateway.errors import EnvelopeInvalid, SignatureInvalid

EDGE = "CN/GOV/11100000MB0348923N/tax-edge"
FACTS = (Fact("income.wage", 0, 3000.5, period="2026-06"), Fact("income.total", 1, 0))


def _sign(private: dict[str, object], facts: tuple[Fact, ...] = FACTS) -> str:
    return sign_attestation(
        issuer=EDGE,
        verification_id="v-1",
        adapter="tax",
        as_of=date(2026, 7, 1).isoformat(),
        request_binding="req-digest",
        facts=facts,
        signing_key=private_signing_key(load_jwks(private)),
    )


def test_the_digest_is_sha256_of_the_rfc8785_form() -> None:
    expected = hashlib.sha256(
        rfc8785.dumps(
            [
                {"code": "income.wage", "member": 0, "value": 3000.5, "period": "2026-06", "record_id": None},
                {"code": "income.total", "member": 1, "value": 0, "period": None, "record_id": None},
            ]
        )
    ).digest()
    assert facts_digest(FACTS) == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert digest_hex(facts_digest(FACTS)) == expected.hex()
    # The stored JSON form hashes the same as the facts themselves.
    assert facts_digest([json.loads(rfc8785.dumps(f)) for f in [_as_json(f) for f in FACTS]]) == facts_digest(FACTS)


def _as_json(fact: Fact) -> dict[str, object]:
    return {"code": fact.code, "member": fact.member, "value": fact.value, "period": fact.period, "record_id": None}


def test_an_attestation_verifies_with_the_agency_key_and_names_what_it_covers() -> None:
    private, public = generate_member_jwks()
    token = _sign(private)
    assert attestation_issuer(token) == EDGE
    claims = verify_attestation(token, public, facts=FACTS, expect={"iss": EDGE, "verification_id": "v-1"})
    assert claims["adapter"] == "tax" and claims["as_of"] == "2026-07-01" and claims["req"] == "req-digest"


def test_other_facts_do_not_match() -> None:
    private, public = generate_member_jwks()
    with pytest.raises(EnvelopeInvalid, match="facts_digest"):
        verify_attestation(_sign(private), public, facts=(Fact("income.wage", 0, 3000.0, period="2026-06"),))


def test_another_key_does_not_verify() -> None:
    private, _ = generate_member_jwks()
    _, other_public = generate_member_jwks()
    with pytest.raises(SignatureInvalid):
        verify_attestation(_sign(private), other_public)


def test_a_claim_that_differs_from_the_expected_is_refused() -> None:
    private, public = generate_member_jwks()
    with pytest.raises(EnvelopeInvalid, match="verification_id"):
        verify_attestation(_sign(private), public, expect={"verification_id": "v-2"})


def test_a_tampered_payload_is_refused() -> None:
    private, public = generate_member_jwks()
    header, payload, signature = _sign(private).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["facts_digest"] = facts_digest(())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(SignatureInvalid):
        verify_attestation(f"{header}.{forged}.{signature}", public)
