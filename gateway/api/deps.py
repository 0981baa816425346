"""Helpers the routers share: reach the hub context, read envelope bodies, answer with envelopes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request, Response

from gateway.auth import Caller
from gateway.context import HubContext
from gateway.envelope import OpenedMessage, seal
from gateway.errors import EnvelopeInvalid, PayloadTooLarge, ScopeMissing, UnsupportedMediaType

JOSE_MEDIA_TYPE = "application/jose"
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")  # RFC 9110 §8.6; 18 digits fit any int64


def hub_of(request: Request) -> HubContext:
    hub: HubContext = request.app.state.hub
    return hub


def require_scope(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: the caller of a request whose bearer token (RFC 6750) holds ``scope``."""

    async def caller_with_scope(request: Request) -> Caller:
        caller = await hub_of(request).tokens.authenticate(request.headers.get("authorization"))
        if scope not in caller.scopes:
            raise ScopeMissing(f"this endpoint needs the scope {scope!r}", scope=scope)
        return caller

    return caller_with_scope


async def envelope_body(request: Request, limit: int | None = None) -> bytes:
    """The compact JWE of a request; the size limit (default ``max_envelope_bytes``) is enforced before the
    body is read whole."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JOSE_MEDIA_TYPE:
        raise UnsupportedMediaType(f"expected {JOSE_MEDIA_TYPE}")
    limit = limit or hub_of(request).settings.max_envelope_bytes
    try:
        return await read_body(request, limit)
    except PayloadTooLarge as exc:
        # Kept as envelope_invalid (400), the code clients of 0.1 already handle.
        raise EnvelopeInvalid(f"envelope larger than {limit} bytes") from exc


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with :class:`PayloadTooLarge` as soon as it passes ``limit`` bytes: a declared
    ``Content-Length`` over the limit before anything is read, else while the chunks stream in, so a huge body
    is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and not _CONTENT_LENGTH.fullmatch(declared):
        raise PayloadTooLarge("the Content-Length is not a decimal number of bytes")
    if declared is not None and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    return bytes(body)


async def open_envelope_request(request: Request, caller: Caller) -> OpenedMessage:
    """The opened request envelope of ``caller`` (body read, size-limited, signer checked against the token)."""
    return await hub_of(request).open_request(await envelope_body(request), caller)


async def sealed_reply(
    request: Request, caller: Caller, opened: OpenedMessage | None, body: Mapping[str, Any], status_code: int = 200
) -> Response:
    """``body`` signed by the hub and sealed to ``caller``, bound to the request envelope it answers."""
    hub = hub_of(request)
    sealed = seal(
        body,
        issuer=hub.settings.hub_id,
        audience=caller.member_id,
        signing_key=hub.keys.signing_key,
        recipient_key=await hub.members.encryption_key(caller.member_id),
        request_jws=opened.jws if opened is not None else None,
    )
    return jose_response(sealed.token, status_code)


def jose_response(token: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=token, status_code=status_code, media_type=JOSE_MEDIA_TYPE, headers=headers)
