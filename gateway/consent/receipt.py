"""Consent receipts: the Kantara Initiative Consent Receipt Specification v1.1 fields, as a signed JWT.

A receipt is a compact JWS (RFC 7515 §7.1) signed with the hub's signing key, explicitly typed
``consent-receipt+jwt`` (RFC 8725 §3.11) so that it cannot pass for an envelope or an access token. Anyone
holding the hub's published JWKS (``/.well-known/jwks.json``) verifies it offline, with any JOSE library.

The person is named by ``piiPrincipalId`` = ``subject_ref`` (an HMAC), never by the identity number. The
receipt has no ``exp``: it stays evidence that consent was given after the consent itself lapses; its
validity period is the ``validity`` claim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, OKPKey

from gateway.consent.models import Consent
from gateway.errors import ConfigurationError, ReceiptInvalid

RECEIPT_TYPE: Final = "consent-receipt+jwt"
KANTARA_VERSION: Final = "KI-CR-v1.1.0"
JURISDICTION: Final = "CN"
LANGUAGE: Final = "zh-CN"
# The signature algorithms of the envelope suite (docs/architecture.md §4), by key type of the hub's signing key.
_ALGORITHMS: Final = ("Ed25519", "ES256")
# PIPL Art. 28 sensitive personal information reached through each category: financial accounts (bank
# and securities holdings), and medical and health data (disability grade; medical spending on tax records).
_SENSITIVE: Final[Mapping[str, str]] = {
    "banking": "financial_accounts",
    "civil_affairs": "medical_and_health",
    "tax": "medical_and_health",
}
_MINOR_UNDER_14: Final = "minor_under_14"  # PIPL Art. 28 ¶1: all information of children under 14
_REQUIRED: Final = ("version", "consentReceiptID", "piiPrincipalId", "consentTimestamp", "services")


def receipt_claims(consent: Consent, *, issuer: str, policy_url: str, under_14: bool) -> dict[str, Any]:
    """The receipt's claims: Kantara v1.1 fields plus the hub's (``grantee``, ``legalBasis``, ``validity``,
    ``evidence``, ``guardian``). Times are NumericDate seconds, as ``consentTimestamp`` is in Kantara."""
    sensitive = {_SENSITIVE[c] for c in consent.categories if c in _SENSITIVE}
    if under_14:
        sensitive.add(_MINOR_UNDER_14)
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": _seconds(consent.registered_at),
        "jti": consent.consent_id,
        "version": KANTARA_VERSION,
        "jurisdiction": JURISDICTION,
        "consentTimestamp": _seconds(consent.signed_at),
        "collectionMethod": consent.collection_method,
        "consentReceiptID": consent.consent_id,
        "language": LANGUAGE,
        "piiPrincipalId": consent.subject_ref,
        "piiControllers": [{"piiController": consent.controller, "onBehalf": False}],
        "policyUrl": policy_url,
        "services": [
            {
                "service": "hedui.means_test_verification",
                "purposes": [
                    {
                        "purpose": purpose,
                        "purposeCategory": ["social_assistance_means_test"],
                        "consentType": "EXPLICIT",
                        "piiCategory": list(consent.categories),
                        "primaryPurpose": index == 0,
                        "termination": "at validity.validUntil, or on revocation",
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": consent.grantee,
                    }
                    for index, purpose in enumerate(consent.purposes)
                ],
            }
        ],
        "sensitive": bool(sensitive),
        "spiCat": sorted(sensitive),
        "grantee": consent.grantee,
        "legalBasis": consent.legal_basis,
        "validity": {"validFrom": _seconds(consent.valid_from), "validUntil": _seconds(consent.valid_until)},
        "evidence": {"sha256": consent.evidence_sha256, "ref": consent.evidence_ref},
    }
    if consent.guardian_ref is not None:
        claims["guardian"] = {"ref": consent.guardian_ref, "relation": consent.guardian_relation}
    return claims


def sign_receipt(claims: Mapping[str, Any], signing_key: Key) -> str:
    """The compact JWS of ``claims``, signed by the hub's Ed25519 (or P-256) signing key."""
    if isinstance(signing_key, OKPKey) and signing_key.curve_name == "Ed25519":
        algorithm = "Ed25519"
    elif isinstance(signing_key, ECKey) and signing_key.curve_name == "P-256":
        algorithm = "ES256"
    else:
        raise ConfigurationError("the hub's signing key must be Ed25519 or P-256")
    signing_key.ensure_kid()
    header = {"alg": algorithm, "kid": signing_key.kid, "typ": RECEIPT_TYPE}
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    try:
        return jws.serialize_compact(header, payload, signing_key, algorithms=_ALGORITHMS)
    except JoseError as exc:
        raise ConfigurationError("the hub's signing key cannot sign a receipt") from exc


def verify_receipt(token: str, hub_jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Check a receipt against the hub's public JWKS and return its claims; raises :class:`ReceiptInvalid`."""
    try:
        keys = KeySet.import_key_set({"keys": [k for k in hub_jwks["keys"] if k.get("use", "sig") == "sig"]})
    except (JoseError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReceiptInvalid("the hub key set is not a valid JWKS") from exc
    try:
        verified = jws.deserialize_compact(token, keys, algorithms=_ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise ReceiptInvalid("not a compact JWS signed by a key of the hub key set") from exc
    if verified.headers().get("typ") != RECEIPT_TYPE:
        raise ReceiptInvalid(f"the JWS is not typed {RECEIPT_TYPE}")
    try:
        claims = json.loads(verified.payload)
    except ValueError as exc:
        raise ReceiptInvalid("the receipt payload is not JSON") from exc
    if not isinstance(claims, dict) or any(name not in claims for name in _REQUIRED):
        raise ReceiptInvalid("the receipt lacks Kantara consent-receipt fields")
    if claims["version"] != KANTARA_VERSION:
        raise ReceiptInvalid("unknown consent-receipt version")
    return claims


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
