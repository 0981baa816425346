"""``/v1/registry/enrollments``: the national beneficiary registry (scope ``registry:write``). Identity
numbers travel only inside envelopes; a lookup by identity number is a POST (never a URL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from gateway.api.deps import hub_of, open_envelope_request, require_scope, sealed_reply
from gateway.api.params import ResourceId
from gateway.auth import Caller
from gateway.registry import EnrollmentCreate, EnrollmentEnd, EnrollmentSearch, parse_body

router = APIRouter(prefix="/v1/registry/enrollments", tags=["registry"])
RegistryCaller = Annotated[Caller, Depends(require_scope("registry:write"))]


@router.post("", status_code=201, response_class=Response)
async def record_enrollment(request: Request, caller: RegistryCaller) -> Response:
    """Record that a person receives a programme in a region (reported by the calling local MIS)."""
    opened = await open_envelope_request(request, caller)
    hub = hub_of(request)
    view = await hub.registry.record(
        parse_body(EnrollmentCreate, opened.body), member_id=caller.member_id, member_region=caller.region
    )
    return await sealed_reply(request, caller, opened, view.model_dump(mode="json"), 201)


@router.post("/search", response_class=Response)
async def search_enrollments(request: Request, caller: RegistryCaller) -> Response:
    """A person's enrollments (identity number inside the envelope)."""
    opened = await open_envelope_request(request, caller)
    found = await hub_of(request).registry.search(parse_body(EnrollmentSearch, opened.body))
    return await sealed_reply(request, caller, opened, found.model_dump(mode="json"))


@router.post("/{enrollment_id}/end", response_class=Response)
async def end_enrollment(enrollment_id: ResourceId, request: Request, caller: RegistryCaller) -> Response:
    """End an enrollment this member reported."""
    opened = await open_envelope_request(request, caller)
    view = await hub_of(request).registry.end(
        enrollment_id, parse_body(EnrollmentEnd, opened.body), member_id=caller.member_id
    )
    return await sealed_reply(request, caller, opened, view.model_dump(mode="json"))
