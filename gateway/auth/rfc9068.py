"""JWT access tokens (RFC 9068): issued by the hub's token endpoint, or by a trusted external issuer.

Tokens are signed with the hub's signing key, typed ``at+jwt`` (RFC 9068 §2.1), live at most 300 s and
carry ``scope``. Validation follows RFC 9068 §4: type, issuer, audience, signature, expiry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import Key, KeySet

from gateway.auth.scopes import ROLE_SCOPES
from gateway.envelope import CLOCK_SKEW_S, HubKeys
from gateway.envelope.jwt import sign_jwt, verify_jwt
from gateway.errors import EnvelopeError, InvalidToken, NotFound, SignatureInvalid
from gateway.members import MemberRegistry

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - the RFC 9068 media type, not a secret
MAX_LIFETIME_S = 300


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated member behind a request."""

    member_id: str
    role: str
    region: str | None
    scopes: frozenset[str]


class AccessTokenIssuer:
    def __init__(self, keys: Callable[[], HubKeys], *, issuer: str, audience: str, lifetime_s: int = 300) -> None:
        if not 0 < lifetime_s <= MAX_LIFETIME_S:
            raise ValueError("access tokens live 1 to 300 seconds")
        self._keys, self._issuer, self._audience, self._lifetime = keys, issuer, audience, lifetime_s

    def issue(self, member_id: str, scopes: frozenset[str], *, now: float | None = None) -> tuple[str, int]:
        """An access token and its lifetime in seconds (RFC 9068 §2.2 claims)."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self._issuer,
            "sub": member_id,
            "client_id": member_id,
            "aud": self._audience,
            "iat": issued,
            "exp": issued + self._lifetime,
            "jti": str(uuid.uuid4()),
            "scope": " ".join(sorted(scopes)),
        }
        return sign_jwt(claims, self._keys().signing_key, typ=ACCESS_TOKEN_TYPE), self._lifetime


class ExternalIssuer:
    """A trusted outside authorization server: its issuer id, JWKS URL (fetched, cached) and audience."""

    def __init__(self, issuer: str, jwks_url: str, audience: str, *, cache_s: float = 300.0) -> None:
        self.issuer, self.jwks_url, self.audience = issuer, jwks_url, audience
        self._cache_s = cache_s
        self._keys: KeySet | None = None
        self._fetched = 0.0

    async def keys(self, *, refresh: bool = False) -> KeySet:
        if refresh or self._keys is None or time.monotonic() - self._fetched > self._cache_s:
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                raise InvalidToken("the external issuer's keys cannot be fetched") from exc
            self._fetched = time.monotonic()
        return self._keys


class AccessTokenValidator:
    def __init__(
        self,
        keys: Callable[[], HubKeys],
        members: MemberRegistry,
        *,
        issuer: str,
        audience: str,
        external: ExternalIssuer | None = None,
    ) -> None:
        self._keys, self._members = keys, members
        self._issuer, self._audience, self._external = issuer, audience, external

    async def authenticate(self, authorization: str | None, *, now: float | None = None) -> Caller:
        """The caller of a request with this ``Authorization`` header (RFC 6750 §2.1), or InvalidToken."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("send Authorization: Bearer <access token>")
        token = token.strip()
        if self._external is not None:
            claims = await self._verify_external(token, self._external)
            issuer, audience = self._external.issuer, self._external.audience
        else:
            claims = self._verify(token, lambda header: _key_by_kid(self._keys().public_key_set(), header))
            issuer, audience = self._issuer, self._audience
        current = time.time() if now is None else now
        token_audience = claims.get("aud")
        audiences = {token_audience} if isinstance(token_audience, str) else set(token_audience or [])
        expires = claims.get("exp")
        if claims.get("iss") != issuer or audience not in audiences:
            raise InvalidToken("the token is for another issuer or audience")
        if not isinstance(expires, int | float) or expires < current - CLOCK_SKEW_S:
            raise InvalidToken("the token has expired")
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise InvalidToken("the token has no subject")
        try:
            member = await self._members.get(subject)
        except NotFound as exc:
            raise InvalidToken("the token's subject is not a member") from exc
        # Deny by default: whatever an issuer (ours or an external one) put in the token, a member never holds
        # more than its role allows.
        scopes = frozenset(str(claims.get("scope", "")).split()) & ROLE_SCOPES.get(member.role, frozenset())
        return Caller(member.member_id, member.role, member.region, scopes)

    @staticmethod
    def _verify(token: str, key_for: Callable[[dict[str, Any]], Key]) -> dict[str, Any]:
        try:
            return verify_jwt(token, key_for, typ=ACCESS_TOKEN_TYPE)
        except EnvelopeError as exc:
            raise InvalidToken("the access token does not verify") from exc

    async def _verify_external(self, token: str, external: ExternalIssuer) -> dict[str, Any]:
        keys = await external.keys()
        try:
            return self._verify(token, lambda header: _key_by_kid(keys, header))
        except InvalidToken:
            # The issuer may have rotated: fetch its keys once more before refusing.
            keys = await external.keys(refresh=True)
            return self._verify(token, lambda header: _key_by_kid(keys, header))


def _key_by_kid(keys: KeySet, header: dict[str, Any]) -> Key:
    kid = header.get("kid")
    for key in keys:
        if key.kid == kid and key.get("use", "sig") == "sig":
            return key
    raise SignatureInvalid("unknown signing key")
