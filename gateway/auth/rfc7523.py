"""Client authentication with a signed JWT assertion: ``private_key_jwt`` (RFC 7523 §2.2 and §3,
OpenID Connect Core §9). The member signs the assertion with one of its registered signing keys."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from joserfc.jwk import Key

from gateway.envelope import CLOCK_SKEW_S, KeyResolver, ReplayCache
from gateway.envelope.jwt import (
    audiences,
    is_token_id,
    numeric_date,
    sign_jwt,
    unverified_claims,
    unverified_header,
    verify_jwt,
)
from gateway.errors import EnvelopeError, InvalidClient, Replayed

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Assertions are meant to be used once, at once; a short lifetime also bounds the replay cache.
MAX_ASSERTION_LIFETIME_S = 300
# "typ" values clients send: none or "JWT" (RFC 7519 §5.1), or the explicit type of draft-ietf-oauth-rfc7523bis.
_ASSERTION_TYPES = ("", "jwt", "client-authentication+jwt")
# The replay cache's columns: issuer (with the "assertion:" prefix) and jti.
_MAX_ISSUER_CHARS = 128 - len("assertion:")
_MAX_JTI_CHARS = 64


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
            # Read before verification only to find the issuer's key; every claim is checked after it.
            claims = unverified_claims(assertion)
            issuer = claims.get("iss")
            kid = header.get("kid")
            if not is_token_id(issuer, _MAX_ISSUER_CHARS) or not is_token_id(kid):
                raise InvalidClient("the assertion needs iss and a kid")
            key = await self._keys.verification_key(issuer, kid)
            claims = verify_jwt(assertion, lambda _header: key, typ=_ASSERTION_TYPES)
        except EnvelopeError as exc:
            raise InvalidClient("the client assertion does not verify") from exc
        # RFC 7523 §3: iss and sub are the client id; aud names this authorization server.
        if claims.get("sub") != issuer or (client_id is not None and client_id != issuer):
            raise InvalidClient("iss, sub and client_id must all be the member id")
        if not audiences(claims) & self._audiences:
            raise InvalidClient("the assertion is not addressed to this token endpoint")
        expires, issued_at = numeric_date(claims.get("exp")), numeric_date(claims.get("iat", current))
        if expires is None or issued_at is None:
            raise InvalidClient("the assertion needs a NumericDate exp (and iat, when present)")
        if expires < current - CLOCK_SKEW_S or issued_at > current + CLOCK_SKEW_S:
            raise InvalidClient("the assertion has expired or is not yet valid")
        if expires - current > MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S:
            raise InvalidClient("the assertion lives too long")
        jti = claims.get("jti")
        if not is_token_id(jti, _MAX_JTI_CHARS):
            raise InvalidClient("the assertion needs a jti of 1 to 64 printable ASCII characters")
        try:
            # Remembered as long as it could be accepted: until exp plus the clock skew (issue 11 defect 3).
            await self._replay.remember(f"assertion:{issuer}", jti, datetime.fromtimestamp(expires + CLOCK_SKEW_S, UTC))
        except Replayed as exc:
            raise InvalidClient("the assertion was used before") from exc
        return issuer
