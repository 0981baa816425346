"""Client authentication with a signed JWT assertion: ``private_key_jwt`` (RFC 7523 §2.2 and §3,
OpenID Connect Core §9). The member signs the assertion with one of its registered signing keys."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import Key

from gateway.envelope import CLOCK_SKEW_S, KeyResolver, ReplayCache
from gateway.envelope.jwt import sign_jwt, unverified_header, verify_jwt
from gateway.errors import EnvelopeError, InvalidClient, Replayed

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Assertions are meant to be used once, at once; a short lifetime also bounds the replay cache.
MAX_ASSERTION_LIFETIME_S = 300
# "typ" values clients send: none or "JWT" (RFC 7519 §5.1), or the explicit type of draft-ietf-oauth-rfc7523bis.
_ASSERTION_TYPES = ("", "jwt", "client-authentication+jwt")


def client_assertion(member_id: str, signing_key: Key, audience: str, *, now: float | None = None) -> str:
    """A fresh assertion for the token endpoint ``audience`` (what a client such as HubClient sends)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": member_id,
        "sub": member_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + 60,
        "jti": str(uuid.uuid4()),
    }
    return sign_jwt(claims, signing_key, typ="JWT")


class ClientAssertionVerifier:
    def __init__(self, keys: KeyResolver, replay: ReplayCache, audiences: set[str]) -> None:
        self._keys = keys
        self._replay = replay
        self._audiences = audiences

    async def verify(self, assertion: str, client_id: str | None = None, *, now: float | None = None) -> str:
        """The authenticated member id, or :class:`InvalidClient` (RFC 6749 §5.2) for any failure."""
        current = time.time() if now is None else now
        try:
            header = unverified_header(assertion)
            claims = _unverified_claims(assertion)
            issuer = claims.get("iss")
            kid = header.get("kid")
            if not isinstance(issuer, str) or not isinstance(kid, str):
                raise InvalidClient("the assertion needs iss and a kid")
            key = await self._keys.verification_key(issuer, kid)
            claims = verify_jwt(assertion, lambda _header: key, typ=_ASSERTION_TYPES)
        except EnvelopeError as exc:
            raise InvalidClient("the client assertion does not verify") from exc
        # RFC 7523 §3: iss and sub are the client id; aud names this authorization server.
        if claims.get("sub") != issuer or (client_id is not None and client_id != issuer):
            raise InvalidClient("iss, sub and client_id must all be the member id")
        audience = claims.get("aud")
        audiences = {audience} if isinstance(audience, str) else set(audience or [])
        if not audiences & self._audiences:
            raise InvalidClient("the assertion is not addressed to this token endpoint")
        expires, issued_at = claims.get("exp"), claims.get("iat", current)
        if not isinstance(expires, int | float) or not isinstance(issued_at, int | float):
            raise InvalidClient("the assertion needs a numeric exp")
        if expires < current - CLOCK_SKEW_S or issued_at > current + CLOCK_SKEW_S:
            raise InvalidClient("the assertion has expired or is not yet valid")
        if expires - current > MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S:
            raise InvalidClient("the assertion lives too long")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidClient("the assertion needs a jti")
        try:
            await self._replay.remember(f"assertion:{issuer}", jti, datetime.fromtimestamp(expires, UTC))
        except Replayed as exc:
            raise InvalidClient("the assertion was used before") from exc
        return issuer


def _unverified_claims(assertion: str) -> dict[str, Any]:
    # Read before verification only to find the issuer's key; every claim is checked after verification.
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise InvalidClient("the client assertion is not a compact JWT") from exc
    if not isinstance(claims, dict):
        raise InvalidClient("the client assertion is not a JSON object")
    return claims
