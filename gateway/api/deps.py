"""Helpers the routers share: reach the hub context, read envelope bodies, answer with envelopes."""

from __future__ import annotations

from fastapi import Request, Response

from gateway.context import HubContext
from gateway.errors import EnvelopeInvalid, HeduiError

JOSE_MEDIA_TYPE = "application/jose"


class UnsupportedMediaType(HeduiError):
    status = 415
    code = "unsupported_media_type"
    title = "Requests carry a JOSE envelope (Content-Type: application/jose)"


def hub_of(request: Request) -> HubContext:
    hub: HubContext = request.app.state.hub
    return hub


async def envelope_body(request: Request) -> bytes:
    """The compact JWE of a request; the size limit is enforced before the body is read whole."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JOSE_MEDIA_TYPE:
        raise UnsupportedMediaType(f"expected {JOSE_MEDIA_TYPE}")
    limit = hub_of(request).settings.max_envelope_bytes
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise EnvelopeInvalid(f"envelope larger than {limit} bytes")
    return bytes(body)


def jose_response(token: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=token, status_code=status_code, media_type=JOSE_MEDIA_TYPE, headers=headers)
