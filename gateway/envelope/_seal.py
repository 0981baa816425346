"""Sealing: sign the claims as a compact JWS, then encrypt that JWS as a compact JWE (RFC 7519 §11.2)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import Key

from gateway.envelope._suite import (
    CONTENT_ENCRYPTION,
    DEFAULT_MAX_BYTES,
    JWS_TYPE,
    KEY_MANAGEMENT,
    NESTED_CONTENT_TYPE,
    encryption_registry,
    is_agreement_key,
    signature_registry,
    signing_algorithm,
)
from gateway.errors import ConfigurationError

MAX_LIFETIME_S = 300

# joserfc applies a registry's size limits only when reading; sealing needs just the algorithm allow-lists.
_SIGNATURES = signature_registry(DEFAULT_MAX_BYTES)
_ENCRYPTION = encryption_registry(DEFAULT_MAX_BYTES)


@dataclass(frozen=True)
class SealedMessage:
    """A sealed message: ``token`` goes on the wire (``application/jose``); ``jws`` is kept by a requester
    to check that the response is bound to it (``expected_request_jws`` of ``open_envelope``)."""

    token: str
    # The inner JWS carries the body in clear (base64url): never in a repr.
    jws: bytes = field(repr=False)


def request_binding(jws: bytes) -> str:
    """The ``req`` claim of a response: base64url(SHA-256(request JWS compact bytes)), unpadded (RFC 7515 §2)."""
    digest = hashlib.sha256(jws).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _signature_algorithm(jws: bytes) -> str | None:
    """The "alg" of a compact JWS's protected header (RFC 7515 §7.1), or None if it cannot be read."""
    encoded = jws.split(b".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4)))
    except ValueError:  # binascii.Error and json.JSONDecodeError are ValueErrors
        return None
    algorithm = header.get("alg") if isinstance(header, dict) else None
    return algorithm if isinstance(algorithm, str) else None


def seal(
    body: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    signing_key: Key,
    recipient_key: Key,
    request_jws: bytes | None = None,
    lifetime_s: int = MAX_LIFETIME_S,
    now: float | None = None,
) -> SealedMessage:
    """Sign ``body`` as ``issuer`` for ``audience``, then encrypt it to ``recipient_key``.

    Pass ``request_jws`` (the ``jws`` of the opened request) when sealing a response: it adds the ``req``
    binding claim. ``body`` must be JSON-serialisable; ``lifetime_s`` is 1 to 300 seconds.
    """
    if not 0 < lifetime_s <= MAX_LIFETIME_S:
        raise ValueError(f"lifetime_s must be between 1 and {MAX_LIFETIME_S} seconds")
    if not is_agreement_key(recipient_key):
        raise ConfigurationError("the recipient key must be an X25519 (OKP) or P-256 (EC) encryption key")
    # A response is signed under the Ed25519 name its request used (see signing_algorithm).
    algorithm = signing_algorithm(signing_key, like=None if request_jws is None else _signature_algorithm(request_jws))
    signing_key.ensure_kid()
    recipient_key.ensure_kid()

    issued_at = int(time.time() if now is None else now)
    # RFC 7519 §4.1: registered claims; "body" and "req" are private claims of this federation.
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + lifetime_s,
        "jti": str(uuid.uuid4()),
        "body": dict(body),
    }
    if request_jws is not None:
        claims["req"] = request_binding(request_jws)
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")

    # RFC 7515 §7.1 compact JWS, explicitly typed (RFC 8725 §3.11) so it cannot be mistaken for another JWT.
    signature_header = {"alg": algorithm, "kid": signing_key.kid, "typ": JWS_TYPE}
    # RFC 7516 §7.1 compact JWE; "cty": "JWT" marks the nested JWT (RFC 7519 §5.2).
    encryption_header = {
        "alg": KEY_MANAGEMENT,
        "enc": CONTENT_ENCRYPTION,
        "kid": recipient_key.kid,
        "cty": NESTED_CONTENT_TYPE,
    }
    try:
        signed = jws.serialize_compact(signature_header, payload, signing_key, registry=_SIGNATURES)
        token = jwe.encrypt_compact(encryption_header, signed, recipient_key, registry=_ENCRYPTION)
    except JoseError as exc:
        raise ConfigurationError("the keys cannot seal an envelope") from exc
    return SealedMessage(token=token, jws=signed.encode("ascii"))
