"""Attestations: an agency's signed statement of the facts it returned for one verification (docs/federation.md).

An edge node signs, with its own (the agency's) signing key, a compact JWS (RFC 7515 §7.1) typed
``hedui-attestation+jwt`` (RFC 8725 §3.11) whose claims name the edge member (``iss``), the verification, the
adapter, the as-of date, the hub request it answers (``req``) and ``facts_digest`` =
base64url(SHA-256(RFC 8785 JCS of the facts as JSON)). The hub cannot produce one without the agency's key,
so a report's source entry carrying it proves the facts came from the agency; anyone holding the facts
(the hub keeps them, encrypted) recomputes the digest.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from adapters.base import Fact
from gateway.edge.wire import fact_json
from gateway.envelope.jwt import sign_jwt, unverified_claims, unverified_header, verify_jwt
from gateway.errors import EnvelopeInvalid, SignatureInvalid

ATTESTATION_TYPE = "hedui-attestation+jwt"
_DIGEST = re.compile(r"[A-Za-z0-9_-]{43}")
_CLAIMS = ("iss", "iat", "verification_id", "adapter", "as_of", "req", "facts_digest")


def facts_digest(facts: Sequence[Fact] | Sequence[Mapping[str, Any]]) -> str:
    """base64url(SHA-256(RFC 8785 JCS of the facts' JSON list)), unpadded (RFC 7515 §2)."""
    as_json = [fact_json(fact) if isinstance(fact, Fact) else dict(fact) for fact in facts]
    digest = hashlib.sha256(rfc8785.dumps(as_json)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def digest_hex(digest: str) -> str:
    """A base64url ``facts_digest`` as lowercase hex (the form audit entries hold digests in)."""
    return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()


def sign_attestation(
    *,
    issuer: str,
    verification_id: str,
    adapter: str,
    as_of: str,
    request_binding: str,
    facts: Sequence[Fact],
    signing_key: Key,
    now: float | None = None,
) -> str:
    """The edge's statement about ``facts``, signed with its (the agency's) signing key."""
    claims = {
        "iss": issuer,
        "iat": int(time.time() if now is None else now),
        "verification_id": verification_id,
        "adapter": adapter,
        "as_of": as_of,
        "req": request_binding,
        "facts_digest": facts_digest(facts),
    }
    return sign_jwt(claims, signing_key, typ=ATTESTATION_TYPE)


def attestation_issuer(token: str) -> str:
    """The ``iss`` an attestation claims, read before verification to find the keys; trust nothing else."""
    unverified_header(token)  # a compact JWS at all?
    claims = unverified_claims(token)  # bounded JSON (gateway/safe_json.py)
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not 0 < len(issuer) <= 128:
        raise EnvelopeInvalid("the attestation names no issuer")
    return issuer


def verify_attestation(
    token: str,
    issuer_jwks: KeySet | Mapping[str, Any],
    *,
    facts: Sequence[Fact] | Sequence[Mapping[str, Any]] | None = None,
    expect: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Check an attestation's signature with its issuer's public keys; return its claims.

    ``facts`` (when given) must hash to ``facts_digest``; each ``expect`` item must equal the claim of that
    name (e.g. ``verification_id``, ``adapter``, ``iss``). Raises :class:`SignatureInvalid` or
    :class:`EnvelopeInvalid`.
    """
    keys = issuer_jwks if isinstance(issuer_jwks, KeySet) else _key_set(issuer_jwks)

    def key_for(header: dict[str, Any]) -> Key:
        for key in keys:
            # RFC 7517 §4.2: a key marked for encryption never verifies a signature.
            if key.kid == header.get("kid") and key.get("use") != "enc":
                return key
        raise SignatureInvalid("the attestation is not signed by a key of its issuer")

    claims = verify_jwt(token, key_for, typ=ATTESTATION_TYPE)
    if any(not isinstance(claims.get(name), str) for name in _CLAIMS if name != "iat"):
        raise EnvelopeInvalid("the attestation lacks a claim")
    if not _DIGEST.fullmatch(claims["facts_digest"]):
        raise EnvelopeInvalid("the attestation's facts_digest is not a base64url SHA-256")
    for name, value in (expect or {}).items():
        if claims.get(name) != value:
            raise EnvelopeInvalid(f"the attestation's {name} does not match")
    if facts is not None and facts_digest(facts) != claims["facts_digest"]:
        raise EnvelopeInvalid("the facts do not match the attestation's facts_digest")
    return claims


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    try:
        return KeySet.import_key_set({"keys": list(jwks["keys"])})
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise SignatureInvalid("the issuer's JWKS cannot be read") from exc
