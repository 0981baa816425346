"""``/v1/audit``: the tamper-evident log for auditors (scope ``audit:read``). Every call is itself recorded as
``audit.viewed``. Identity numbers travel only inside envelopes (search by subject, subject access reports);
everything else is plain JSON, since entries carry no raw personal data (subject_refs only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.api.deps import hub_of, open_envelope_request, require_scope, sealed_reply
from gateway.api.params import Index, OptionalSize, Size
from gateway.audit import Viewer
from gateway.auth import Caller
from gateway.errors import NotFound
from gateway.ids.fields import INT64_MAX, FreeText, validation_problem

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AuditCaller = Annotated[Caller, Depends(require_scope("audit:read"))]


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member: str | None = None
    purpose: str | None = None
    types: list[str] = Field(default_factory=list, max_length=16)
    since: datetime | None = None
    until: datetime | None = None
    id_number: str | None = Field(None, description="a subject, looked up by its subject_ref", repr=False)
    after: int | None = Field(None, ge=-1, le=INT64_MAX)
    limit: int = Field(100, ge=1, le=1000)
    operator: Annotated[str | None, FreeText] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


class SubjectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(repr=False)
    operator: Annotated[str | None, FreeText] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def _parse(model: type[SearchBody] | type[SubjectBody], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_problem(exc, "the body is not valid") from None


@router.get("/checkpoint")
async def checkpoint(request: Request, caller: AuditCaller) -> JSONResponse:
    """The latest signed checkpoint (C2SP signed note) and the verifier key to check it offline."""
    audit = hub_of(request).audit
    viewer = Viewer(caller.member_id)
    latest = await audit.latest_checkpoint(viewer=viewer) or await audit.checkpoint(viewer=viewer)
    if latest is None:
        raise NotFound("the log is empty")
    return JSONResponse({**latest.to_json(), "verifier_key": hub_of(request).audit_key.verifier_key()})


@router.get("/entries")
async def entries(
    request: Request,
    caller: AuditCaller,
    start: Index,
    end: Size,
) -> JSONResponse:
    """Entries ``[start, end)`` with their leaf indexes (at most 1,000)."""
    found = await hub_of(request).audit.entries(start, end, viewer=Viewer(caller.member_id))
    return JSONResponse({"entries": [entry.to_json() for entry in found]})


@router.get("/proofs/inclusion")
async def inclusion_proof(
    request: Request,
    caller: AuditCaller,
    leaf_index: Index,
    tree_size: OptionalSize = None,
) -> JSONResponse:
    """RFC 9162 §2.1.3 inclusion proof of a leaf, with the checkpoint of that tree when one was signed."""
    proof = await hub_of(request).audit.inclusion_proof(
        leaf_index, tree_size, with_entry=True, viewer=Viewer(caller.member_id)
    )
    return JSONResponse(proof.to_json())


@router.get("/proofs/consistency")
async def consistency_proof(
    request: Request,
    caller: AuditCaller,
    first: Index,
    second: Size,
) -> JSONResponse:
    """RFC 9162 §2.1.4 consistency proof between two tree sizes."""
    proof = await hub_of(request).audit.consistency_proof(first, second, viewer=Viewer(caller.member_id))
    return JSONResponse(proof.to_json())


@router.post("/search", response_class=Response)
async def search(request: Request, caller: AuditCaller) -> Response:
    """Entries by member, purpose, type, time range and/or subject (identity number inside the envelope)."""
    opened = await open_envelope_request(request, caller)
    body: SearchBody = _parse(SearchBody, opened.body)
    found = await hub_of(request).audit.search(
        member=body.member,
        purpose=body.purpose,
        types=body.types,
        since=body.since,
        until=body.until,
        subject_id_number=body.id_number,
        after=body.after,
        limit=body.limit,
        viewer=Viewer(caller.member_id, body.operator),
    )
    return await sealed_reply(request, caller, opened, {"entries": [entry.to_json() for entry in found]})


@router.post("/subject-accesses", response_class=Response)
async def subject_accesses(request: Request, caller: AuditCaller) -> Response:
    """Subject access report: who looked at this person's data, when, for which purpose and categories,
    with what outcome (docs/architecture.md §9)."""
    opened = await open_envelope_request(request, caller)
    body: SubjectBody = _parse(SubjectBody, opened.body)
    report = await hub_of(request).audit.subject_access_report(
        body.id_number, viewer=Viewer(caller.member_id, body.operator)
    )
    return await sealed_reply(request, caller, opened, report.to_json())
