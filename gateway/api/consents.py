"""``/v1/consents``: household authorisations (核对授权书, docs/architecture.md §8), scope ``consent:write``. Identity
numbers travel only inside envelopes: search is a POST, never a URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from gateway.api.deps import hub_of, open_envelope_request, require_scope, sealed_reply
from gateway.api.params import ResourceId
from gateway.auth import Caller
from gateway.consent import ConsentBatch, ConsentList, RevokeRequest, SearchRequest, parse_body

router = APIRouter(prefix="/v1/consents", tags=["consents"])
ConsentCaller = Annotated[Caller, Depends(require_scope("consent:write"))]


@router.post("", status_code=201, response_class=Response)
async def register_consents(request: Request, caller: ConsentCaller) -> Response:
    """Register one consent per household member (all or none); each comes back with its signed receipt.
    The service writes their ``consent.granted`` entries in the same transaction."""
    opened = await open_envelope_request(request, caller)
    hub = hub_of(request)
    views = await hub.consents.register(
        parse_body(ConsentBatch, opened.body).consents, controller=await hub.members.get(caller.member_id)
    )
    return await sealed_reply(request, caller, opened, ConsentList(consents=views).model_dump(mode="json"), 201)


@router.post("/search", response_class=Response)
async def search_consents(request: Request, caller: ConsentCaller) -> Response:
    """A person's consents registered by or granted to the caller (identity number inside the envelope)."""
    opened = await open_envelope_request(request, caller)
    hub = hub_of(request)
    views = await hub.consents.search(
        parse_body(SearchRequest, opened.body).id_number, member=await hub.members.get(caller.member_id)
    )
    return await sealed_reply(request, caller, opened, ConsentList(consents=views).model_dump(mode="json"))


@router.post("/{consent_id}/revoke", response_class=Response)
async def revoke_consent(consent_id: ResourceId, request: Request, caller: ConsentCaller) -> Response:
    """Revoke a consent; every verification that starts after this answer honours it, on every replica."""
    opened = await open_envelope_request(request, caller)
    hub = hub_of(request)
    view = await hub.consents.revoke(
        consent_id,
        reason=parse_body(RevokeRequest, opened.body).reason,
        by=await hub.members.get(caller.member_id),
    )
    return await sealed_reply(request, caller, opened, view.model_dump(mode="json"))
