"""Signed federation metadata (docs/architecture.md §4, like X-Road's global configuration): the members, their roles,
regions and public keys, and the hub's endpoints, as one JWS signed by the hub with an expiry. A local MIS or
an edge node that holds the hub's public key verifies it offline and learns every peer's keys from it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from gateway.envelope import HubKeys
from gateway.envelope.jwt import sign_jwt
from gateway.members.registry import MemberRecord

FEDERATION_TYPE = "hedui-federation+jwt"


def federation_claims(
    *,
    hub_id: str,
    base_url: str,
    members: Sequence[MemberRecord],
    hub_jwks: dict[str, Any],
    lifetime_s: int,
    now: float | None = None,
) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    return {
        "iss": hub_id,
        "iat": issued,
        "exp": issued + lifetime_s,
        "hub": {
            "id": hub_id,
            "jwks": hub_jwks,
            "endpoints": {
                "token": f"{base_url}/oauth2/token",
                "verifications": f"{base_url}/v1/verifications",
                "jwks": f"{base_url}/.well-known/jwks.json",
                "federation": f"{base_url}/v1/federation",
            },
        },
        "members": [
            {"id": m.member_id, "role": m.role, "region": m.region, "name": m.name, "jwks": m.public_jwks}
            for m in members
        ],
    }


def sign_federation(claims: dict[str, Any], keys: HubKeys) -> str:
    return sign_jwt(claims, keys.signing_key, typ=FEDERATION_TYPE)
