"""Opening: decrypt the compact JWE, verify the inner JWS, check the claims, then remember the jti.

The checks run in a fixed order so that each failure maps to one error (docs/architecture.md §4):
size and structure, then decryption (:class:`EnvelopeInvalid`); the signature (:class:`SignatureInvalid`);
claim types (:class:`EnvelopeInvalid`); times (:class:`Expired`); audience (:class:`WrongAudience`); the
response binding (:class:`ResponseBindingInvalid`); last the replay cache (:class:`Replayed`), so that only
a message that passed every other check can use up its jti. Error messages never quote claim values.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from joserfc.jws import JWSRegistry

from gateway.envelope._seal import MAX_LIFETIME_S, request_binding
from gateway.envelope._suite import (
    CONTENT_ENCRYPTION,
    DEFAULT_MAX_BYTES,
    JWS_TYPE,
    KEY_MANAGEMENT,
    NESTED_CONTENT_TYPE,
    SIGNING_ALGORITHMS,
    encryption_registry,
    is_agreement_key,
    signature_registry,
)
from gateway.envelope.jwt import is_token_id, numeric_date
from gateway.envelope.replay import JtiClaim, ReplayCache
from gateway.envelope.resolver import KeyResolver
from gateway.errors import (
    EnvelopeInvalid,
    Expired,
    ResponseBindingInvalid,
    SignatureInvalid,
    WrongAudience,
)
from gateway.safe_json import loads as safe_json_loads

CLOCK_SKEW_S = 60
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAX_ISSUER_CHARS = 128  # replay_cache.issuer
# joserfc reports hostile input with its own errors and, in places, with failed asserts and lookups.
_JOSERFC_FAILURES = (JoseError, LookupError, ValueError, TypeError, AssertionError)


@dataclass(frozen=True)
class OpenedMessage:
    """A verified message. ``jws`` is the inner compact JWS: pass it as ``request_jws`` to ``seal`` to bind
    the response to this request."""

    issuer: str
    audience: str
    jti: str
    issued_at: int
    expires_at: int
    # Business data (identity numbers, names) never goes into a repr.
    body: dict[str, Any] = field(repr=False)
    req: str | None
    signing_kid: str
    jws: bytes = field(repr=False)


async def open_envelope(
    token: str | bytes,
    *,
    decryption_keys: KeySet,
    resolver: KeyResolver,
    audience: str,
    replay: ReplayCache | None,
    expected_request_jws: bytes | None = None,
    now: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> OpenedMessage:
    """Decrypt, verify and check a sealed message addressed to ``audience``.

    ``replay`` remembers each accepted jti until its expiry (pass ``None`` only where replays are harmless).
    ``expected_request_jws`` (a requester's ``SealedMessage.jws``) makes the response's ``req`` mandatory
    and checked.
    """
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    if len(raw) > max_bytes:
        raise EnvelopeInvalid("the envelope exceeds the size limit")

    signed = _decrypt(raw, decryption_keys, max_bytes)
    signatures = signature_registry(max_bytes)
    signature, claims = _parse_signed(signed, signatures)
    kid = signature.headers()["kid"]
    issuer = claims.get("iss")
    if not is_token_id(issuer, _MAX_ISSUER_CHARS):
        raise EnvelopeInvalid("the iss claim is missing or not a member id")
    key = await resolver.verification_key(issuer, kid)
    _verify(signature, key, signatures)

    message = _message(claims, issuer, kid, signed)
    _check_times(message, time.time() if now is None else now)
    if message.audience != audience:
        raise WrongAudience()
    if expected_request_jws is not None and message.req != request_binding(expected_request_jws):
        raise ResponseBindingInvalid()
    if replay is not None:
        claim = jti_claim(message)
        await replay.remember(claim.issuer, claim.jti, claim.expires_at)
    return message


def jti_claim(message: OpenedMessage) -> JtiClaim:
    """What the replay cache remembers of ``message``: for as long as it could still be accepted, skew included."""
    return JtiClaim(message.issuer, message.jti, datetime.fromtimestamp(message.expires_at + CLOCK_SKEW_S, UTC))


def _decrypt(token: bytes, decryption_keys: KeySet, max_bytes: int) -> bytes:
    segments = token.split(b".")
    # RFC 7516 §7.1: five base64url segments; three would be a bare JWS (RFC 7516 §9), which is refused.
    if len(segments) != 5 or not all(_BASE64URL.fullmatch(segment) for segment in segments):
        raise EnvelopeInvalid("the envelope is not a JWE in compact serialization")
    header = _json_object(segments[0], "the JWE protected header")
    if header.get("alg") != KEY_MANAGEMENT or header.get("enc") != CONTENT_ENCRYPTION or "zip" in header:
        raise EnvelopeInvalid(f"the envelope must use alg {KEY_MANAGEMENT} and enc {CONTENT_ENCRYPTION}")
    # RFC 7516 §4.1.13 (as RFC 7515 §4.1.11): the suite understands no extension, so any "crit" is refused.
    if "crit" in header:
        raise EnvelopeInvalid("critical header extensions are not supported")
    # RFC 7519 §5.2: a nested JWT says so with "cty": "JWT" (media types compare case-insensitively).
    content_type = header.get("cty")
    if not isinstance(content_type, str) or content_type.upper() != NESTED_CONTENT_TYPE:
        raise EnvelopeInvalid('the envelope must declare "cty": "JWT"')
    key = _decryption_key(decryption_keys, header.get("kid"))
    # RFC 7518 §4.6.1.1: the ephemeral key must be on the recipient key's curve.
    ephemeral = header.get("epk")
    if not isinstance(ephemeral, dict) or ephemeral.get("crv") != key.get("crv"):
        raise EnvelopeInvalid("the ephemeral key does not match the recipient key")
    try:
        decrypted = jwe.decrypt_compact(token, key, registry=encryption_registry(max_bytes))
    except _JOSERFC_FAILURES as exc:
        raise EnvelopeInvalid("the envelope cannot be decrypted") from exc
    plaintext = decrypted.plaintext
    if plaintext is None:
        raise EnvelopeInvalid("the envelope is empty")
    return plaintext


def _decryption_key(decryption_keys: KeySet, kid: Any) -> Key:
    if isinstance(kid, str):
        for key in decryption_keys:
            if key.kid == kid and key.is_private and is_agreement_key(key):
                return key
    raise EnvelopeInvalid("the envelope is not encrypted to a key of this recipient")


def _parse_signed(signed: bytes, signatures: JWSRegistry) -> tuple[jws.CompactSignature, dict[str, Any]]:
    # The header is parsed here first, within bounds, so that joserfc's own parser never sees a hostile one.
    _json_object(signed.split(b".", 1)[0], "the JWS protected header")
    try:
        signature = jws.extract_compact(signed, registry=signatures)
    except _JOSERFC_FAILURES as exc:
        raise EnvelopeInvalid("the envelope does not hold a JWS in compact serialization") from exc
    header = signature.headers()
    if "crit" in header:
        raise EnvelopeInvalid("critical header extensions are not supported")
    if header.get("alg") not in SIGNING_ALGORITHMS:
        raise SignatureInvalid(f"the signature algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
    if not is_token_id(header.get("kid")):
        raise SignatureInvalid("the signature names no key")
    # RFC 8725 §3.11 explicit typing; RFC 7515 §4.1.9 lets "application/" be omitted, case-insensitively.
    media_type = header.get("typ")
    if not isinstance(media_type, str) or media_type.lower().removeprefix("application/") != JWS_TYPE:
        raise EnvelopeInvalid(f'the signed message must declare "typ": "{JWS_TYPE}"')
    claims = _json_object(signature.payload, "the claims", encoded=False)
    return signature, claims


def _verify(signature: jws.CompactSignature, key: Key, signatures: JWSRegistry) -> None:
    try:
        valid = jws.validate_compact(signature, key, registry=signatures)
    except _JOSERFC_FAILURES as exc:
        raise SignatureInvalid("the signing key does not fit the signature algorithm") from exc
    if not valid:
        raise SignatureInvalid("the signature does not verify")


def _message(claims: dict[str, Any], issuer: str, kid: str, signed: bytes) -> OpenedMessage:
    audience = claims.get("aud")
    jti = claims.get("jti")
    body = claims.get("body")
    req = claims.get("req")
    # RFC 7519 §4.1.3 allows an array; the federation addresses exactly one member.
    if not isinstance(audience, str):
        raise EnvelopeInvalid("the aud claim is missing or not a string")
    if not isinstance(jti, str) or not _UUID.fullmatch(jti):
        raise EnvelopeInvalid("the jti claim is missing or not a UUID")
    if not isinstance(body, dict):
        raise EnvelopeInvalid("the body claim is missing or not an object")
    if req is not None and not isinstance(req, str):
        raise EnvelopeInvalid("the req claim is not a string")
    return OpenedMessage(
        issuer=issuer,
        audience=audience,
        jti=jti,
        issued_at=_numeric_date(claims, "iat"),
        expires_at=_numeric_date(claims, "exp"),
        body=body,
        req=req,
        signing_kid=kid,
        jws=signed,
    )


def _check_times(message: OpenedMessage, now: float) -> None:
    lifetime = message.expires_at - message.issued_at
    if not 0 < lifetime <= MAX_LIFETIME_S:
        raise Expired(f"a message may live at most {MAX_LIFETIME_S} seconds")
    # RFC 7519 §4.1.4: reject at or after exp; "iat" in the future only within the skew.
    if now >= message.expires_at + CLOCK_SKEW_S:
        raise Expired("the message has expired")
    if message.issued_at > now + CLOCK_SKEW_S:
        raise Expired("the message is issued in the future")


def _numeric_date(claims: dict[str, Any], name: str) -> int:
    # RFC 7519 §2 NumericDate: seconds since the epoch, possibly non-integer.
    seconds = numeric_date(claims.get(name))
    if seconds is None:
        raise EnvelopeInvalid(f"the {name} claim is missing or not a NumericDate")
    return seconds


def _json_object(data: bytes, what: str, *, encoded: bool = True) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4)) if encoded else data
        # Bounded depth, no NaN/Infinity, 64-bit integers, unique member names (gateway.safe_json).
        value = safe_json_loads(raw, max_bytes=len(raw))
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeInvalid(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise EnvelopeInvalid(f"{what} is not a JSON object")
    return value
