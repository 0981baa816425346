"""The member registry: who may talk to the hub, in which role and region, with which public keys.

Keys are public JWKs (RFC 7517) identified by their RFC 7638 thumbprint. A member may hold several keys of
each use, so it can rotate without downtime: a signature verifies with any of its unretired keys, and the
hub encrypts to its newest unretired encryption key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey
from sqlalchemy import select

from gateway.audit import AuditLog, MemberChanged
from gateway.errors import Conflict, InvalidInput, NotFound, SignatureInvalid, UnknownMember
from gateway.ids import MemberId, validate_region
from gateway.members.callback_url import checked_callback_url
from gateway.store import Database
from gateway.store.models import Member, MemberKey

ROLES = ("local_mis", "agency", "auditor", "operator")
PublicKey = OKPKey | ECKey

# Which curves each key use may have (docs/architecture.md §4): Ed25519 / P-256 signatures, X25519 / P-256 key
# agreement.
_ALLOWED_CURVES = {"sig": {"Ed25519", "P-256"}, "enc": {"X25519", "P-256"}}
_CACHE_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class MemberRecord:
    member_id: str
    role: str
    region: str | None
    name: str
    public_jwks: dict[str, Any]
    callback_url: str | None = None  # where its batches' completion notifications go (docs/batch.md)


def parse_public_jwks(jwks: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Check a member's public JWKS and return (kid, use, jwk) triples.

    Refuses private keys, unsupported curves and a ``kid`` that is not the key's RFC 7638 thumbprint.
    """
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise InvalidInput("a JWKS is an object with a non-empty 'keys' list (RFC 7517 §5)")
    parsed: list[tuple[str, str, dict[str, Any]]] = []
    for position, raw in enumerate(keys):
        if not isinstance(raw, dict):
            raise InvalidInput(f"key {position} is not a JSON object")
        if "d" in raw:
            raise InvalidInput(f"key {position} holds private material; register public keys only")
        try:
            key = JWKRegistry.import_key(dict(raw))
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidInput(f"key {position} is not a valid JWK") from exc
        curve = raw.get("crv")
        use = raw.get("use") or ("enc" if curve == "X25519" else "sig")
        if use not in _ALLOWED_CURVES or curve not in _ALLOWED_CURVES[use]:
            raise InvalidInput(f"key {position}: curve {curve!r} is not allowed for use {use!r}")
        kid = key.thumbprint()
        if raw.get("kid", kid) != kid:
            raise InvalidInput(f"key {position}: kid must be the RFC 7638 thumbprint of the key")
        public = key.as_dict(private=False)
        public.update({"kid": kid, "use": use})
        parsed.append((kid, use, public))
    return parsed


@dataclass(frozen=True, slots=True)
class _CachedMember:
    """A cached record and its keys as imported so far (by kid): importing a JWK costs about 9 µs, and every
    verification resolves two (the sender's signing key, its encryption key). Dropped with the record, so a
    changed key is picked up exactly when the record is."""

    expires: float
    record: MemberRecord
    imported: dict[str, PublicKey]


class MemberRegistry:
    """Members and keys in the database, with a short in-process cache for the per-request lookups."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._cache: dict[str, _CachedMember] = {}

    async def add(
        self,
        member_id: str,
        *,
        role: str,
        public_jwks: Mapping[str, Any],
        region: str | None = None,
        name: str = "",
        replace_keys: bool = False,
    ) -> MemberRecord:
        """Register a member, or add keys to an existing one (``replace_keys`` retires the old ones)."""
        member_id = str(MemberId.parse(member_id))
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        if region is not None:
            validate_region(region)
        keys = parse_public_jwks(public_jwks)
        now = datetime.now(UTC)
        async with self._database.session() as session, session.begin():
            member = await session.get(Member, member_id)
            if member is None:
                member = Member(member_id=member_id, role=role, region=region, name=name, created_at=now)
                session.add(member)
            elif member.role != role:
                raise Conflict("a member's role cannot change; register a new subsystem instead")
            else:  # adding keys: what is not given stays as registered
                member.region = region if region is not None else member.region
                member.name = name or member.name
            stored = {
                key.kid: key
                for key in await session.scalars(select(MemberKey).where(MemberKey.kid.in_([k for k, _, _ in keys])))
            }
            if any(key.member_id != member_id for key in stored.values()):
                raise Conflict("this key is already registered to another member")
            if replace_keys:
                for key in await session.scalars(select(MemberKey).where(MemberKey.member_id == member_id)):
                    if key.kid not in stored and key.retired_at is None:
                        key.retired_at = now
            for kid, use, jwk in keys:
                if kid in stored:
                    stored[kid].retired_at = None
                else:
                    session.add(
                        MemberKey(kid=kid, member_id=member_id, use=use, jwk=jwk, created_at=now, retired_at=None)
                    )
        self._cache.pop(member_id, None)
        return await self.get(member_id)

    async def set_callback_url(self, member_id: str, url: str | None, *, audit: AuditLog, actor: str) -> MemberRecord:
        """Register (``None``: remove) the member's batch callback URL, with its ``member.changed`` entry in the
        same transaction; setting the URL it already has changes and records nothing."""
        if url is not None:
            url = checked_callback_url(url)
        async with self._database.write_session() as session:
            member = await session.get(Member, str(MemberId.parse(member_id)))
            if member is None:
                raise NotFound("no such member")
            if member.callback_url != url:
                member.callback_url = url
                await session.flush()
                await audit.append_within(
                    session,
                    MemberChanged(
                        actor=actor,
                        member_id=member.member_id,
                        change="callback_changed",
                        role=member.role,
                        region=member.region,
                        callback_url=url,
                    ),
                )
        self._cache.pop(member_id, None)
        return await self.get(member_id)

    async def get(self, member_id: str) -> MemberRecord:
        return (await self._cached(member_id)).record

    async def list(self) -> Sequence[MemberRecord]:
        async with self._database.session() as session:
            members = (await session.scalars(select(Member).order_by(Member.member_id))).all()
            return [_record(member) for member in members]

    async def verification_key(self, issuer: str, kid: str) -> PublicKey:
        """The sender's unretired signing key ``kid``; implements the envelope's KeyResolver."""
        try:
            cached = await self._cached(issuer)
        except NotFound as exc:
            raise UnknownMember("unknown sender or key") from exc
        for jwk in cached.record.public_jwks["keys"]:
            if jwk["kid"] == kid and jwk["use"] == "sig":
                return _imported(cached, jwk)
        raise SignatureInvalid("unknown sender or key")

    async def encryption_key(self, member_id: str) -> PublicKey:
        """The member's newest unretired encryption key (the hub seals responses to it)."""
        cached = await self._cached(member_id)
        candidates = [jwk for jwk in cached.record.public_jwks["keys"] if jwk["use"] == "enc"]
        if not candidates:
            raise NotFound("the member has no encryption key")
        return _imported(cached, candidates[-1])

    async def _cached(self, member_id: str) -> _CachedMember:
        cached = self._cache.get(member_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        async with self._database.session() as session:
            member = await session.get(Member, member_id)
            if member is None:
                raise NotFound("no such member")
            record = _record(member)
        cached = _CachedMember(expires=time.monotonic() + _CACHE_TTL_S, record=record, imported={})
        self._cache[member_id] = cached
        return cached


def _record(member: Member) -> MemberRecord:
    active = sorted((key for key in member.keys if key.retired_at is None), key=lambda key: key.created_at)
    return MemberRecord(
        member_id=member.member_id,
        role=member.role,
        region=member.region,
        name=member.name,
        public_jwks={"keys": [dict(key.jwk) for key in active]},
        callback_url=member.callback_url,
    )


def _imported(cached: _CachedMember, jwk: dict[str, Any]) -> PublicKey:
    key = cached.imported.get(jwk["kid"])
    if key is None:
        imported = JWKRegistry.import_key(jwk)
        assert isinstance(imported, OKPKey | ECKey)
        key = cached.imported[jwk["kid"]] = imported
    return key
