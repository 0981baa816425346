"""What an edge node (or an auditor) trusts of the hub: its signed federation metadata (gateway.members.federation).

The metadata is a JWS signed by the hub, with an expiry. The first copy is checked against a pinned hub JWKS
when one is given, otherwise against the hub JWKS it carries (trust on first use, like SSH); it is cached in
the data directory. Every later copy must be signed by a hub key of the copy before it, so a key the hub has
announced during a rotation carries trust forward and nobody between the edge and the hub can swap keys.
The edge refreshes its copy when a quarter of its lifetime is left, and keeps working from the cache,
offline, until it expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from gateway.envelope import public_encryption_key
from gateway.envelope.jwt import unverified_claims, verify_jwt
from gateway.errors import ConfigurationError, EnvelopeInvalid, Expired, HeduiError, SignatureInvalid
from gateway.members.federation import FEDERATION_TYPE

log = logging.getLogger(__name__)
CACHE_FILE = "federation.jwt"
_MAX_BYTES = 262_144


def verify_federation(token: str, anchor_jwks: Mapping[str, Any] | None, *, now: float | None = None) -> dict[str, Any]:
    """Verify federation metadata with ``anchor_jwks`` (or, with None, the hub JWKS it carries); its claims.

    Raises :class:`SignatureInvalid`, :class:`EnvelopeInvalid` or :class:`Expired`.
    """
    if anchor_jwks is None:
        anchor_jwks = _embedded_hub_jwks(token)
    keys = _key_set(anchor_jwks)

    def key_for(header: dict[str, Any]) -> Key:
        for key in keys:
            if key.kid == header.get("kid") and key.get("use") != "enc":
                return key
        raise SignatureInvalid("the federation metadata is not signed by a trusted hub key")

    claims = verify_jwt(token, key_for, typ=FEDERATION_TYPE)
    hub = claims.get("hub")
    members = claims.get("members")
    expires = claims.get("exp")
    if not isinstance(hub, dict) or not isinstance(members, list) or not isinstance(expires, int):
        raise EnvelopeInvalid("the federation metadata lacks hub, members or exp")
    if hub.get("id") != claims.get("iss") or not isinstance(hub.get("jwks"), dict):
        raise EnvelopeInvalid("the federation metadata's hub is not its issuer")
    if (time.time() if now is None else now) >= expires:
        raise Expired("the federation metadata has expired")
    return claims


def member_jwks(claims: Mapping[str, Any], member_id: str, *, role: str | None = None) -> dict[str, Any]:
    """The public JWKS of ``member_id`` in verified metadata (of that ``role``, if given)."""
    for member in claims["members"]:
        if isinstance(member, dict) and member.get("id") == member_id and (role is None or member.get("role") == role):
            jwks = member.get("jwks")
            if isinstance(jwks, dict):
                return jwks
    raise SignatureInvalid(f"no {role or 'member'} of that id in the federation metadata")


class FederationTrust:
    """The edge's view of the federation: a :class:`gateway.envelope.KeyResolver` that knows only the hub."""

    def __init__(
        self,
        hub_url: str,
        cache_dir: Path,
        *,
        pinned_hub_jwks: Mapping[str, Any] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = f"{hub_url.rstrip('/')}/v1/federation"
        self._cache = cache_dir / CACHE_FILE
        self._pinned = dict(pinned_hub_jwks) if pinned_hub_jwks is not None else None
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._clock = clock
        self._claims: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._last_attempt = -1e18

    async def load(self) -> dict[str, Any]:
        """The metadata at start-up: the cache if still valid, else fetched; :class:`ConfigurationError` when
        neither works."""
        return await self.claims()

    async def claims(self) -> dict[str, Any]:
        """Verified, unexpired metadata; refreshed in the last quarter of its lifetime."""
        if self._claims is None and self._cache.exists():
            try:
                self._claims = verify_federation(
                    self._cache.read_text(encoding="ascii"), self._pinned, now=self._clock()
                )
            except HeduiError:
                log.warning("the cached federation metadata is invalid or expired; fetching it again")
        current = self._claims
        now = self._clock()
        if current is None or now >= current["exp"] - (current["exp"] - current["iat"]) / 4:
            await self.refresh(required=current is None or now >= current["exp"])
        if self._claims is None:
            raise ConfigurationError("no valid federation metadata from the hub")
        return self._claims

    async def refresh(self, *, required: bool = False) -> None:
        """Fetch and verify new metadata with the hub keys trusted so far; a failure keeps the current copy."""
        async with self._lock:
            if not required and self._clock() - self._last_attempt < 30:
                return
            self._last_attempt = self._clock()
            anchor = self._pinned if self._claims is None else self._claims["hub"]["jwks"]
            try:
                response = await self._http.get(self._url)
                response.raise_for_status()
                if len(response.content) > _MAX_BYTES:
                    raise EnvelopeInvalid("the federation metadata is too large")
                token = response.text
                claims = verify_federation(token, anchor, now=self._clock())
            except (httpx.HTTPError, HeduiError) as exc:
                if required and (self._claims is None or self._clock() >= self._claims["exp"]):
                    raise ConfigurationError("cannot obtain valid federation metadata from the hub") from exc
                log.warning("refreshing the federation metadata failed; using the cached copy")
                return
            if self._claims is not None and claims["iss"] != self._claims["iss"]:
                raise ConfigurationError("the federation metadata names another hub")
            self._claims = claims
            temporary = self._cache.with_suffix(".tmp")
            temporary.write_text(token, encoding="ascii")
            temporary.replace(self._cache)

    async def hub_id(self) -> str:
        return str((await self.claims())["iss"])

    async def hub_encryption_key(self) -> Key:
        return public_encryption_key((await self.claims())["hub"]["jwks"])

    async def verification_key(self, issuer: str, kid: str) -> Key:
        """Only the hub signs queries to an edge: any other issuer, or an unknown key, is refused."""
        claims = await self.claims()
        if issuer != claims["iss"]:
            raise SignatureInvalid("only the hub may query this edge")
        for attempt in range(2):
            for key in _key_set(claims["hub"]["jwks"]):
                if key.kid == kid and key.get("use") != "enc" and key.get("key_ops") != ["verify"]:
                    return key
            if attempt == 0:  # the hub may have rotated: look once more (at most every 30 s)
                await self.refresh()
                claims = await self.claims()
        raise SignatureInvalid("unknown hub signing key")

    async def aclose(self) -> None:
        await self._http.aclose()


def _embedded_hub_jwks(token: str) -> dict[str, Any]:
    try:
        jwks = unverified_claims(token)["hub"]["jwks"]  # bounded JSON (gateway/safe_json.py)
    except (EnvelopeInvalid, KeyError, TypeError) as exc:
        raise EnvelopeInvalid("the federation metadata is not a compact JWS with a hub JWKS") from exc
    if not isinstance(jwks, dict):
        raise EnvelopeInvalid("the federation metadata's hub JWKS is not an object")
    return jwks


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    try:
        return KeySet.import_key_set({"keys": list(jwks["keys"])})
    except (JoseError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SignatureInvalid("a JWKS in the federation metadata cannot be read") from exc
