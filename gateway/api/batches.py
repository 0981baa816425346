"""``/v1/batches``: bulk re-verification (docs/batch.md). Envelopes in and out, as everywhere; the reports of
a batch come back each sealed to the requester exactly as ``GET /v1/verifications/{id}`` seals one."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway.api.deps import envelope_body, hub_of, require_scope, sealed_reply
from gateway.api.params import ResourceId
from gateway.auth import Caller
from gateway.envelope import OpenedMessage
from gateway.errors import InvalidInput

VerifyCaller = Annotated[Caller, Depends(require_scope("verify"))]

router = APIRouter(prefix="/v1/batches", tags=["batches"])

_ENVELOPE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/jose": {"schema": {"type": "string", "description": "compact JWE (docs/architecture.md §4)"}}
        },
    }
}
_INDEX = re.compile(r"-1|0|[1-9][0-9]{0,6}")
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")
MAX_PAGE = 100


async def _opened(request: Request, caller: Caller, *, large: bool = False) -> OpenedMessage:
    hub = hub_of(request)
    limit = hub.settings.batch_max_envelope_bytes if large else None
    return await hub.open_request(await envelope_body(request, limit), caller, max_bytes=limit)


def _names_batch(opened: OpenedMessage, batch_id: str) -> None:
    if opened.body.get("batch_id") != batch_id:
        raise InvalidInput("the envelope names another batch")


@router.post("", status_code=202, openapi_extra=_ENVELOPE_BODY, response_class=Response)
async def create_batch(request: Request, caller: VerifyCaller) -> Response:
    """Submit a batch ``{"batch_ref", "purpose", "items": [...], "close": false}`` (up to 10,000 items per
    call); answers 202 with its status and ``Location``. ``"callback": true`` (or a ``"callback_url"`` on the
    member's registered callback origin; else 422 ``callback_url_not_allowed``) asks for a signed completion
    notification (docs/batch.md "Completion callback")."""
    opened = await _opened(request, caller, large=True)
    status = await hub_of(request).batches.service.create(caller, opened.body)
    response = await sealed_reply(request, caller, opened, status, 202)
    response.headers["Location"] = f"/v1/batches/{status['batch_id']}"
    return response


@router.post("/{batch_id}/items", status_code=202, openapi_extra=_ENVELOPE_BODY, response_class=Response)
async def add_items(batch_id: ResourceId, request: Request, caller: VerifyCaller) -> Response:
    """Append ``{"batch_id", "items": [...]}`` to an open batch."""
    opened = await _opened(request, caller, large=True)
    _names_batch(opened, batch_id)
    status = await hub_of(request).batches.service.add_items(caller, batch_id, opened.body)
    return await sealed_reply(request, caller, opened, status, 202)


@router.post("/{batch_id}/close", openapi_extra=_ENVELOPE_BODY, response_class=Response)
async def close_batch(batch_id: ResourceId, request: Request, caller: VerifyCaller) -> Response:
    """End intake (a sealed ``{"batch_id"}``); the batch finishes when its items have."""
    opened = await _opened(request, caller)
    _names_batch(opened, batch_id)
    return await sealed_reply(request, caller, opened, await hub_of(request).batches.service.close(caller, batch_id))


@router.post("/{batch_id}/cancel", openapi_extra=_ENVELOPE_BODY, response_class=Response)
async def cancel_batch(batch_id: ResourceId, request: Request, caller: VerifyCaller) -> Response:
    """Cancel (a sealed ``{"batch_id"}``): queued items are not processed; running ones finish."""
    opened = await _opened(request, caller)
    _names_batch(opened, batch_id)
    return await sealed_reply(request, caller, opened, await hub_of(request).batches.service.cancel(caller, batch_id))


@router.get("/{batch_id}", response_class=Response)
async def batch_status(batch_id: ResourceId, request: Request, caller: VerifyCaller) -> Response:
    """Counts by state and outcome, throughput, ETA and per-agency throttling, sealed to the requester."""
    return await sealed_reply(request, caller, None, await hub_of(request).batches.service.status(caller, batch_id))


@router.get("/{batch_id}/results", response_class=Response)
async def batch_results(
    batch_id: ResourceId,
    request: Request,
    caller: VerifyCaller,
    after: Annotated[str, Query(description="index of the last item already read (-1: from the start)")] = "-1",
    limit: Annotated[str, Query(description="items per page, 1-100")] = "100",
) -> Response:
    """Finished items after ``after``, in item order, up to the first unfinished one; each report sealed to
    the requester (a compact JWE, as ``GET /v1/verifications/{id}`` answers), each failure with its code."""
    if not _INDEX.fullmatch(after) or not _LIMIT.fullmatch(limit) or int(limit) > MAX_PAGE:
        raise InvalidInput(f"after is an item index or -1; limit is 1-{MAX_PAGE}")
    hub = hub_of(request)
    page, complete = await hub.batches.service.results(caller, batch_id, after=int(after), limit=int(limit))
    items: list[dict[str, Any]] = []
    for item in page:
        entry: dict[str, Any] = {"index": item.index, "case_id": item.case_id, "state": item.state}
        if item.verification_id is not None:
            sealed = await hub.verifications.report(caller, item.verification_id, None)
            entry |= {"verification_id": item.verification_id, "outcome": item.outcome, "report": sealed.token}
        if item.error is not None:
            entry["error"] = item.error
        items.append(entry)
    body = {
        "batch_id": batch_id,
        "items": items,
        "next_after": items[-1]["index"] if items else int(after),
        "complete": complete,
    }
    return await sealed_reply(request, caller, None, body)
