"""``POST /v1/matches`` (智能救助方案分析): which programmes a verified household qualifies for, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from gateway.api.deps import hub_of, open_envelope_request, require_scope, sealed_reply
from gateway.auth import Caller
from gateway.errors import InvalidInput

router = APIRouter(tags=["matches"])


@router.post("/v1/matches", response_class=Response)
async def match_programmes(request: Request, caller: Annotated[Caller, Depends(require_scope("verify"))]) -> Response:
    """Body ``{"verification_id": ...}`` of one of the caller's verifications; the answer evaluates its
    verified indicators against every programme in force in the case's region."""
    opened = await open_envelope_request(request, caller)
    verification_id = opened.body.get("verification_id")
    if not isinstance(verification_id, str) or set(opened.body) != {"verification_id"}:
        raise InvalidInput('the body is {"verification_id": <id>}')
    return await sealed_reply(
        request, caller, opened, await hub_of(request).verifications.match(caller, verification_id)
    )
