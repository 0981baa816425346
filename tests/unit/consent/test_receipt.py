"""Consent receipts: Kantara v1.1 claims in a typed JWS that any JOSE library verifies with the hub's JWKS."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from gateway.consent import RECEIPT_TYPE, receipt_claims, sign_receipt, verify_receipt
from gateway.consent.models import Consent
from gateway.errors import ReceiptInvalid

HUB = "CN/GOV/11100000MB0348916Y/hub"
SIGNED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def consent(**changes: Any) -> Consent:
    fields: dict[str, Any] = {
        "consent_id": "0b6f3c1e-9a51-4f4c-8f0e-5d4a7d3c2b1a",
        "subject_ref": "5e" * 32,
        "subject_sealed": b"sealed",
        "controller": "CN/GOV/11110101MB12345677/dibao-mis",
        "grantee": "110101",
        "purposes": ["dibao.application", "marginal.application"],
        "categories": ["hukou", "housing"],
        "legal_basis": "consent",
        "collection_method": "signed_form",
        "evidence_sha256": "ab" * 32,
        "evidence_ref": "MIS-110101/2026/000123",
        "guardian_ref": None,
        "guardian_sealed": None,
        "guardian_relation": None,
        "signed_at": SIGNED,
        "valid_from": SIGNED,
        "valid_until": SIGNED + timedelta(days=365),
        "status": "active",
        "registered_at": SIGNED + timedelta(hours=1),
    }
    fields.update(changes)
    return Consent(**fields)


def claims_of(row: Consent, *, under_14: bool = False) -> dict[str, Any]:
    return receipt_claims(row, issuer=HUB, policy_url="urn:test:policy", under_14=under_14)


@pytest.fixture
def signing_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", {"use": "sig", "alg": "Ed25519"}, auto_kid=True)


def jwks_of(*keys: Any) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def test_claims_follow_kantara_v1_1() -> None:
    claims = claims_of(consent())
    assert claims["version"] == "KI-CR-v1.1.0"
    assert claims["jurisdiction"] == "CN"
    assert claims["consentReceiptID"] == claims["jti"] == "0b6f3c1e-9a51-4f4c-8f0e-5d4a7d3c2b1a"
    assert claims["consentTimestamp"] == int(SIGNED.timestamp())
    assert claims["collectionMethod"] == "signed_form"
    assert claims["piiPrincipalId"] == "5e" * 32
    assert claims["piiControllers"] == [{"piiController": "CN/GOV/11110101MB12345677/dibao-mis", "onBehalf": False}]
    assert claims["policyUrl"] == "urn:test:policy"
    purposes = claims["services"][0]["purposes"]
    assert [p["purpose"] for p in purposes] == ["dibao.application", "marginal.application"]
    assert [p["primaryPurpose"] for p in purposes] == [True, False]
    assert all(p["piiCategory"] == ["hukou", "housing"] and p["thirdPartyName"] == "110101" for p in purposes)
    assert claims["validity"] == {
        "validFrom": int(SIGNED.timestamp()),
        "validUntil": int((SIGNED + timedelta(days=365)).timestamp()),
    }
    assert (claims["sensitive"], claims["spiCat"]) == (False, [])
    assert "guardian" not in claims and "exp" not in claims


def test_sensitive_categories_and_children_are_flagged() -> None:
    claims = claims_of(consent(categories=["banking", "tax", "civil_affairs"]), under_14=True)
    assert claims["sensitive"] is True
    assert claims["spiCat"] == ["financial_accounts", "medical_and_health", "minor_under_14"]


def test_a_guardian_is_named_by_reference_and_relation() -> None:
    claims = claims_of(consent(collection_method="guardian", guardian_ref="9a" * 32, guardian_relation="parent"))
    assert claims["guardian"] == {"ref": "9a" * 32, "relation": "parent"}
    assert claims["collectionMethod"] == "guardian"


def test_a_receipt_verifies_with_jwcrypto_and_with_verify_receipt(signing_key: OKPKey) -> None:
    claims = claims_of(consent())
    token = sign_receipt(claims, signing_key)

    published = cjwk.JWKSet.from_json(json.dumps(jwks_of(signing_key)))
    checked = cjws.JWS()
    checked.deserialize(token)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    checked.verify(published.get_key(header["kid"]), alg="Ed25519")
    assert json.loads(checked.payload) == claims
    assert header == {"alg": "Ed25519", "kid": signing_key.kid, "typ": RECEIPT_TYPE}

    assert verify_receipt(token, jwks_of(signing_key)) == claims


def test_a_p256_hub_key_signs_es256() -> None:
    key = ECKey.generate_key("P-256", {"use": "sig"}, auto_kid=True)
    token = sign_receipt(claims_of(consent()), key)
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "ES256"
    assert verify_receipt(token, jwks_of(key))["piiPrincipalId"] == "5e" * 32


def test_a_tampered_receipt_fails(signing_key: OKPKey) -> None:
    token = sign_receipt(claims_of(consent()), signing_key)
    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["grantee"] = "510502"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(ReceiptInvalid):
        verify_receipt(f"{header}.{forged_payload}.{signature}", jwks_of(signing_key))


def test_a_receipt_from_another_key_fails(signing_key: OKPKey) -> None:
    other = OKPKey.generate_key("Ed25519", {"use": "sig"}, auto_kid=True)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(sign_receipt(claims_of(consent()), other), jwks_of(signing_key))


def test_a_jws_of_another_type_is_not_a_receipt(signing_key: OKPKey) -> None:
    payload = json.dumps(claims_of(consent())).encode()
    envelope_typed = jws.serialize_compact(
        {"alg": "Ed25519", "kid": signing_key.kid, "typ": "hedui+jwt"}, payload, signing_key, algorithms=["Ed25519"]
    )
    with pytest.raises(ReceiptInvalid, match=re.escape(RECEIPT_TYPE)):
        verify_receipt(envelope_typed, jwks_of(signing_key))


def test_a_signed_object_without_kantara_fields_is_not_a_receipt(signing_key: OKPKey) -> None:
    token = sign_receipt({"iss": HUB}, signing_key)
    with pytest.raises(ReceiptInvalid, match="Kantara"):
        verify_receipt(token, jwks_of(signing_key))


def test_garbage_and_bad_key_sets_fail() -> None:
    with pytest.raises(ReceiptInvalid):
        verify_receipt("not-a-jws", {"keys": []})
    with pytest.raises(ReceiptInvalid):
        verify_receipt("a.b.c", {"nokeys": True})


def test_the_hub_jwks_with_its_encryption_key_verifies(signing_key: OKPKey) -> None:
    encryption = OKPKey.generate_key("X25519", {"use": "enc"}, auto_kid=True)
    token = sign_receipt(claims_of(consent()), signing_key)
    assert verify_receipt(token, jwks_of(encryption, signing_key))["version"] == "KI-CR-v1.1.0"
