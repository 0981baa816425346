"""Signed JWTs of the hub outside the envelope: access tokens (RFC 9068), client assertions (RFC 7523),
federation metadata and receipts. Same signature suite as the envelope (Ed25519 / ES256 only), always
explicitly typed (RFC 8725 §3.11) so that one kind of token can never be accepted as another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key

from gateway.envelope._suite import signature_registry, signing_algorithm
from gateway.errors import EnvelopeInvalid, SignatureInvalid

_MAX_BYTES = 262_144
_SIGNATURES = signature_registry(_MAX_BYTES)


def sign_jwt(claims: Mapping[str, Any], key: Key, *, typ: str) -> str:
    """A compact JWS (RFC 7515 §7.1) of ``claims`` with header ``{alg, kid, typ}``."""
    key.ensure_kid()
    header = {"alg": signing_algorithm(key), "kid": key.kid, "typ": typ}
    payload = json.dumps(dict(claims), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return jws.serialize_compact(header, payload.encode("utf-8"), key, registry=_SIGNATURES)


def unverified_header(token: str | bytes) -> dict[str, Any]:
    """The protected header, to pick the verification key (``kid``); nothing in it is trusted yet."""
    try:
        return dict(jws.extract_compact(_bytes(token)).protected)
    except (JoseError, ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeInvalid("not a compact JWS") from exc


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
        claims = json.loads(signed.payload)
    except ValueError as exc:
        raise EnvelopeInvalid("the token payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise EnvelopeInvalid("the token payload is not a JSON object")
    return claims


def _bytes(token: str | bytes) -> bytes:
    return token.encode("ascii") if isinstance(token, str) else token
