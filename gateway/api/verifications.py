"""``/v1/verifications``: envelope in, envelope out (DESIGN §6)."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request, Response

from gateway.api.deps import envelope_body, hub_of, jose_response
from gateway.errors import InvalidInput

router = APIRouter(prefix="/v1/verifications", tags=["verifications"])

_ENVELOPE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/jose": {"schema": {"type": "string", "description": "compact JWE (DESIGN §4)"}}},
    }
}


@router.post("", status_code=201, openapi_extra=_ENVELOPE_BODY, response_class=Response)
async def create_verification(request: Request) -> Response:
    """Verify a household. The sealed report comes back at once; ``Location`` names it for later reads."""
    hub = hub_of(request)
    opened = await hub.open_request(await envelope_body(request))
    verification_id, sealed = await hub.verifications.verify(opened)
    return jose_response(sealed.token, 201, {"Location": f"/v1/verifications/{verification_id}"})


@router.get("/{verification_id}", response_class=Response)
async def read_verification(
    verification_id: str, request: Request, hedui_envelope: str = Header(description="a sealed request envelope")
) -> Response:
    """The stored report, to its requester. The caller proves who it is with a sealed request envelope in
    the ``Hedui-Envelope`` header whose body is ``{"verification_id": <id>}``."""
    hub = hub_of(request)
    opened = await hub.open_request(hedui_envelope.encode())
    if opened.body.get("verification_id") != verification_id:
        raise InvalidInput("the envelope names another verification")
    sealed = await hub.verifications.report(opened, verification_id)
    return jose_response(sealed.token)
