"""The report seal: a compact JWS (RFC 7515) by the hub over ``{verification_id, report_digest, issued_at}``,
printed as a QR code on the 核对报告. Anyone with the hub's published JWKS checks it, and with the report's
JSON also that the report is the one sealed (``report_digest`` = SHA-256 of its RFC 8785 form, the digest
the audit log's ``verification.completed`` entry records)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785
from joserfc.jwk import Key, KeySet

from gateway.envelope.jwt import sign_jwt, verify_jwt
from gateway.errors import EnvelopeError, ReportSealInvalid

SEAL_TYP = "hedui-report-seal+jwt"
_COMPACT = re.compile(r"[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,200}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def report_digest(report: Mapping[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps(dict(report))).hexdigest()


def seal_report(report: Mapping[str, Any], key: Key, *, issuer: str, now: datetime | None = None) -> str:
    claims = {
        "iss": issuer,
        "verification_id": str(report["verification_id"]),
        "report_digest": report_digest(report),
        "issued_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return sign_jwt(claims, key, typ=SEAL_TYP)


def verify_seal(token: str, jwks: KeySet, *, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The seal's claims once its signature verifies under a key of ``jwks`` (and, given the report, once
    the report's digest and id match); :class:`ReportSealInvalid` otherwise."""
    token = token.strip()
    if not _COMPACT.fullmatch(token):
        raise ReportSealInvalid("the QR text is not a compact JWS")

    def key_for(header: dict[str, Any]) -> Key:
        kid = header.get("kid")
        for key in jwks:
            if key.kid == kid and key.get("use", "sig") == "sig":
                return key
        raise ReportSealInvalid("the seal names a key the hub does not publish")

    try:
        claims = verify_jwt(token, key_for, typ=SEAL_TYP)
    except EnvelopeError as exc:
        raise ReportSealInvalid("the seal's signature does not verify") from exc
    if not isinstance(claims.get("report_digest"), str) or not _DIGEST.fullmatch(claims["report_digest"]):
        raise ReportSealInvalid("the seal carries no report digest")
    if report is not None:
        if claims["report_digest"] != report_digest(report):
            raise ReportSealInvalid("the report differs from the sealed one")
        if claims.get("verification_id") != report.get("verification_id"):
            raise ReportSealInvalid("the seal is for another verification")
    return claims
