"""``GET /v1/federation``: the signed federation metadata (public: it holds only public keys)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.api.deps import hub_of
from gateway.members.federation import federation_claims, sign_federation

router = APIRouter(tags=["federation"])


@router.get("/v1/federation", response_class=Response)
async def federation(request: Request) -> Response:
    hub = hub_of(request)
    claims = federation_claims(
        hub_id=hub.settings.hub_id,
        base_url=hub.settings.public_url,
        members=await hub.members.list(),
        hub_jwks=hub.keys.public_jwks(),
        lifetime_s=hub.settings.federation_lifetime_s,
    )
    return Response(sign_federation(claims, hub.keys), media_type="application/jwt")
