"""Signed JWTs of the hub outside the envelope: access tokens (RFC 9068), client assertions (RFC 7523),
federation metadata and receipts. Same signature suite as the envelope (Ed25519 / ES256 only), always
explicitly typed (RFC 8725 §3.11) so that one kind of token can never be accepted as another.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key

from gateway.envelope._suite import signature_registry, signing_algorithm
from gateway.errors import EnvelopeInvalid, SignatureInvalid
from gateway.safe_json import loads as safe_json_loads

_MAX_BYTES = 262_144
_LAST_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z
# Issuers, subjects, key ids and jtis end up in database keys: printable ASCII, bounded, no NUL or newline.
_TOKEN_ID = re.compile(r"[\x21-\x7e]{1,128}")
_SIGNATURES = signature_registry(_MAX_BYTES)


def sign_jwt(claims: Mapping[str, Any], key: Key, *, typ: str) -> str:
    """A compact JWS (RFC 7515 §7.1) of ``claims`` with header ``{alg, kid, typ}``."""
    key.ensure_kid()
    header = {"alg": signing_algorithm(key), "kid": key.kid, "typ": typ}
    payload = json.dumps(dict(claims), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return jws.serialize_compact(header, payload.encode("utf-8"), key, registry=_SIGNATURES)


def unverified_header(token: str | bytes) -> dict[str, Any]:
    """The protected header, to pick the verification key (``kid``); nothing in it is trusted yet."""
    data = _bytes(token)
    if len(data) > _MAX_BYTES:
        raise EnvelopeInvalid("token too large")
    segments = data.split(b".")
    if len(segments) != 3:
        raise EnvelopeInvalid("not a compact JWS")
    # Parsed here, within bounds, so that joserfc's own parser never sees a hostile header.
    header = _segment_object(segments[0], "the JWS header")
    try:
        jws.extract_compact(data)
    except (JoseError, ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeInvalid("not a compact JWS") from exc
    return header


def unverified_claims(token: str | bytes) -> dict[str, Any]:
    """The claims, read before verification only to find the signer's key; nothing in them is trusted yet."""
    segments = _bytes(token).split(b".")
    if len(segments) != 3 or len(segments[1]) > _MAX_BYTES:
        raise EnvelopeInvalid("not a compact JWS")
    return _segment_object(segments[1], "the JWS payload")


def is_token_id(value: Any, max_chars: int = 128) -> TypeGuard[str]:
    """Whether a claim or header value can name an issuer, key or jti: 1 to ``max_chars`` printable ASCII."""
    return isinstance(value, str) and len(value) <= max_chars and _TOKEN_ID.fullmatch(value) is not None


def audiences(claims: dict[str, Any]) -> frozenset[str]:
    """RFC 7519 §4.1.3 ``aud``: one string or an array of strings; anything else names no audience."""
    value = claims.get("aud")
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(item for item in items if isinstance(item, str))


def numeric_date(value: Any) -> int | None:
    """An RFC 7519 §2 NumericDate as whole seconds, or ``None`` for anything else (a bool, a string, NaN,
    infinities, or a time outside years 1970-9999 that no clock comparison or ``datetime`` could use)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    seconds = math.floor(value)
    return seconds if 0 <= seconds <= _LAST_NUMERIC_DATE else None


def verify_jwt(
    token: str | bytes, key_for: Callable[[dict[str, Any]], Key], *, typ: str | tuple[str, ...]
) -> dict[str, Any]:
    """Verify the signature with ``key_for(header)`` and the ``typ``; return the claims (not time-checked).

    ``key_for`` raises :class:`SignatureInvalid` for an unknown key. The ``typ`` comparison ignores an
    ``application/`` prefix and case, per RFC 7515 §4.1.9.
    """
    data = _bytes(token)
    if len(data) > _MAX_BYTES:
        raise EnvelopeInvalid("token too large")
    header = unverified_header(data)
    accepted = {typ} if isinstance(typ, str) else set(typ)
    given = str(header.get("typ", "")).lower().removeprefix("application/")
    if given not in {t.lower() for t in accepted}:
        raise EnvelopeInvalid("unexpected token type")
    key = key_for(header)
    try:
        signed = jws.deserialize_compact(data, key, registry=_SIGNATURES)
    except JoseError as exc:
        raise SignatureInvalid("bad signature") from exc
    try:
        claims = safe_json_loads(signed.payload, max_bytes=_MAX_BYTES)
    except ValueError as exc:
        raise EnvelopeInvalid("the token payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise EnvelopeInvalid("the token payload is not a JSON object")
    return claims


def _segment_object(segment: bytes, what: str) -> dict[str, Any]:
    try:
        value = safe_json_loads(base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4)), max_bytes=_MAX_BYTES)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeInvalid(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise EnvelopeInvalid(f"{what} is not a JSON object")
    return value


def _bytes(token: str | bytes) -> bytes:
    try:
        return token.encode("ascii") if isinstance(token, str) else token
    except UnicodeEncodeError as exc:
        raise EnvelopeInvalid("a compact JWS is ASCII") from exc
