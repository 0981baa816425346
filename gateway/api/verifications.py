"""``/v1/verifications``: envelope in, envelope out (docs/architecture.md §6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from gateway.api.deps import envelope_body, hub_of, jose_response, require_scope
from gateway.api.params import ResourceId
from gateway.auth import Caller
from gateway.envelope import jti_claim
from gateway.errors import InvalidInput
from gateway.report.service import printable_report

VerifyCaller = Annotated[Caller, Depends(require_scope("verify"))]

router = APIRouter(prefix="/v1/verifications", tags=["verifications"])

_ENVELOPE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/jose": {"schema": {"type": "string", "description": "compact JWE (docs/architecture.md §4)"}}
        },
    }
}


@router.post("", status_code=201, openapi_extra=_ENVELOPE_BODY, response_class=Response)
async def create_verification(request: Request, caller: VerifyCaller) -> Response:
    """Verify a household. The sealed report comes back at once; ``Location`` names it for later reads."""
    hub = hub_of(request)
    # The jti is claimed in the flow's checks, with the consent and registry reads: one round trip (issue 12).
    opened = await hub.open_request(await envelope_body(request), caller, remember_jti=False)
    verification_id, sealed = await hub.verifications.verify(opened, caller, jti_claim=jti_claim(opened))
    return jose_response(sealed.token, 201, {"Location": f"/v1/verifications/{verification_id}"})


@router.get("/{verification_id}", response_class=Response)
async def read_verification(
    verification_id: ResourceId,
    request: Request,
    caller: VerifyCaller,
    hedui_envelope: Annotated[str | None, Header(description="optional sealed request envelope")] = None,
) -> Response:
    """The stored report, sealed to its requester. The bearer token identifies the caller; the
    ``Hedui-Envelope`` header of 0.1 clients (a sealed ``{"verification_id": <id>}``) is still accepted, and
    then the answer is bound to it (``req``)."""
    hub = hub_of(request)
    opened = None
    if hedui_envelope is not None:
        opened = await hub.open_request(hedui_envelope.encode(), caller)
        if opened.body.get("verification_id") != verification_id:
            raise InvalidInput("the envelope names another verification")
    sealed = await hub.verifications.report(caller, verification_id, opened)
    return jose_response(sealed.token)


@router.get(
    "/{verification_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the 核对报告 with the hub's QR seal"}},
)
async def report_pdf(verification_id: ResourceId, request: Request, caller: VerifyCaller) -> Response:
    """The stored report as a printable PDF (核对报告, docs/console.md), sealed by the hub; the requester only."""
    pdf, seal = await printable_report(hub_of(request), caller, verification_id)
    headers = {
        "Content-Disposition": f'inline; filename="{verification_id}.pdf"',
        "Cache-Control": "no-store",
        "Hedui-Report-Seal": seal,  # the QR code's text, for clients that file it beside the PDF
    }
    return Response(pdf, media_type="application/pdf", headers=headers)
