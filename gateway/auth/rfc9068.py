"""JWT access tokens (RFC 9068): issued by the hub's token endpoint, or by a trusted external issuer.

Tokens are signed with the hub's signing key, typed ``at+jwt`` (RFC 9068 §2.1), live at most 300 s and
carry ``scope``. Validation follows RFC 9068 §4: type, issuer, audience, signature, expiry.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import Key, KeySet

from gateway.auth.scopes import ROLE_SCOPES
from gateway.envelope import CLOCK_SKEW_S, HubKeys
from gateway.envelope.jwt import audiences, is_token_id, numeric_date, sign_jwt, verify_jwt
from gateway.errors import EnvelopeError, HeduiError, InvalidToken, NotFound, SignatureInvalid
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


@dataclass(frozen=True, slots=True)
class _Verified:
    """What a verified token proved: its claims, the key that signed it and until when it holds."""

    claims: dict[str, Any]
    kid: str | None
    expires: int


class AccessTokenValidator:
    """Validates bearer tokens; a verified token is remembered until its expiry, keyed by its SHA-256, so that
    the signature is checked once per token rather than once per request (issue 12). What can change while a
    token lives is still checked on every request: that its signing key is still published (a retired hub key
    ends its tokens at once) and that its subject is still a member, with the role's scopes of now."""

    def __init__(
        self,
        keys: Callable[[], HubKeys],
        members: MemberRegistry,
        *,
        issuer: str,
        audience: str,
        external: ExternalIssuer | None = None,
        cache_entries: int = 10_000,
    ) -> None:
        self._keys, self._members = keys, members
        self._issuer, self._audience, self._external = issuer, audience, external
        self._verified: dict[bytes, _Verified] = {}
        self._cache_entries = cache_entries

    async def authenticate(self, authorization: str | None, *, now: float | None = None) -> Caller:
        """The caller of a request with this ``Authorization`` header (RFC 6750 §2.1), or InvalidToken."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("send Authorization: Bearer <access token>")
        token = token.strip()
        current = time.time() if now is None else now
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        verified = self._verified.get(digest)
        if verified is None:
            verified = await self._verify_token(token, current)
            self._remember(digest, verified, current)
        if verified.expires < current - CLOCK_SKEW_S:
            self._verified.pop(digest, None)
            raise InvalidToken("the token has expired")
        if self._external is None:
            # Rotation: a token stays good only while the hub still publishes the key that signed it.
            _key_by_kid(self._keys().public_key_set(), {"kid": verified.kid}, InvalidToken)
        subject = verified.claims["sub"]
        try:
            member = await self._members.get(subject)
        except NotFound as exc:
            raise InvalidToken("the token's subject is not a member") from exc
        # Deny by default: whatever an issuer (ours or an external one) put in the token, a member never holds
        # more than its role allows.
        scope = verified.claims.get("scope")
        asked = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        return Caller(member.member_id, member.role, member.region, asked & ROLE_SCOPES.get(member.role, frozenset()))

    async def _verify_token(self, token: str, current: float) -> _Verified:
        """RFC 9068 §4: signature and type, issuer, audience, expiry and subject."""
        if self._external is not None:
            claims, kid = await self._verify_external(token, self._external)
            issuer, audience = self._external.issuer, self._external.audience
        else:
            claims, kid = self._verify(token, lambda header: _key_by_kid(self._keys().public_key_set(), header))
            issuer, audience = self._issuer, self._audience
        if claims.get("iss") != issuer or audience not in audiences(claims):
            raise InvalidToken("the token is for another issuer or audience")
        expires = numeric_date(claims.get("exp"))
        if expires is None or expires < current - CLOCK_SKEW_S:
            raise InvalidToken("the token has expired")
        if not is_token_id(claims.get("sub")):
            raise InvalidToken("the token has no subject")
        return _Verified(claims, kid, expires)

    def _remember(self, digest: bytes, verified: _Verified, current: float) -> None:
        if len(self._verified) >= self._cache_entries:
            # Expired entries go first; if every entry is live, the oldest ones (dicts keep insertion order).
            for key in [key for key, entry in self._verified.items() if entry.expires < current - CLOCK_SKEW_S]:
                del self._verified[key]
            while len(self._verified) >= self._cache_entries:
                del self._verified[next(iter(self._verified))]
        self._verified[digest] = verified

    @staticmethod
    def _verify(token: str, key_for: Callable[[dict[str, Any]], Key]) -> tuple[dict[str, Any], str | None]:
        used: list[str | None] = []

        def key_and_kid(header: dict[str, Any]) -> Key:
            kid = header.get("kid")
            used.append(kid if isinstance(kid, str) else None)
            return key_for(header)

        try:
            claims = verify_jwt(token, key_and_kid, typ=ACCESS_TOKEN_TYPE)
        except EnvelopeError as exc:
            raise InvalidToken("the access token does not verify") from exc
        return claims, used[-1]

    async def _verify_external(self, token: str, external: ExternalIssuer) -> tuple[dict[str, Any], str | None]:
        keys = await external.keys()
        try:
            return self._verify(token, lambda header: _key_by_kid(keys, header))
        except InvalidToken:
            # The issuer may have rotated: fetch its keys once more before refusing.
            keys = await external.keys(refresh=True)
            return self._verify(token, lambda header: _key_by_kid(keys, header))


def _key_by_kid(keys: KeySet, header: dict[str, Any], error: type[HeduiError] = SignatureInvalid) -> Key:
    kid = header.get("kid")
    for key in keys:
        if key.kid == kid and key.get("use", "sig") == "sig":
            return key
    raise error("unknown signing key")
