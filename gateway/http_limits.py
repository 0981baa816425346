"""Limits on the request head: header fields (431, RFC 6585 §5) and the request target (414, RFC 9110
§15.5.15).

Two layers, because neither alone is enough:

* :class:`LimitedHttpProtocol`, the hub's HTTP protocol (``hedui serve``, ``hedui sandbox``), counts the bytes
  of a request head while they arrive and refuses it once it passes :data:`MAX_HEAD_BYTES`, before httptools
  has buffered more (it would otherwise keep a 16 MB header field in memory, growing it chunk by chunk), and
  refuses the field past :data:`MAX_HEADER_FIELDS` or one larger than :data:`MAX_FIELD_BYTES` as it is parsed.
  uvicorn has no such settings for httptools (``h11_max_incomplete_event_size`` bounds only h11's buffer).
* :class:`HeaderLimits`, an ASGI middleware of the app, applies the same numbers to whatever server runs it
  (h11 after an upgrade hand-over, another ASGI server, tests through ``httpx.ASGITransport``), and answers
  with the RFC 9457 problem ``request_headers_too_large``.
* After an upgrade hand-over, h11 (:class:`LimitedH11Protocol`) buffers a head up to :data:`MAX_HEAD_BYTES`
  and answers a longer one with the same 431 problem (plain h11 would answer 400).

The numbers follow common servers (Apache ``LimitRequestFields 100``, ``LimitRequestFieldSize 8190``); the
hub's largest legitimate field, a bearer token or a 0.1 client's ``Hedui-Envelope``, is a few kilobytes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope

from gateway.errors import HeadersTooLarge, HeduiError, UriTooLong
from gateway.http_protocol import HubHttpProtocol, UpgradeIgnoringH11Protocol

MAX_HEADER_FIELDS = 100
MAX_FIELD_BYTES = 8_190
MAX_HEAD_BYTES = 65_536
MAX_TARGET_BYTES = 8_192

_REASONS = {414: b"URI Too Long", 431: b"Request Header Fields Too Large"}
# After a refusal the connection is closed "lingering" (RFC 9112 §9.6): the write side first, while what the
# client still sends is read and dropped, so that closing with unread data does not reset the connection
# (a TCP RST) before the client has read the 431. Bounded in time and bytes.
_LINGER_S = 2.0
_LINGER_BYTES = 4 * 1_048_576


def _problem_body(error: HeduiError) -> bytes:
    problem = {
        "type": f"urn:hedui:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
    }
    return json.dumps(problem).encode("ascii")


def head_problem(headers: list[tuple[bytes, bytes]], target_bytes: int = 0) -> HeduiError | None:
    """Why a request head with these fields and a request target of ``target_bytes`` is refused, or None."""
    if target_bytes > MAX_TARGET_BYTES:
        return UriTooLong(f"the request target may be at most {MAX_TARGET_BYTES} bytes")
    if len(headers) > MAX_HEADER_FIELDS:
        return HeadersTooLarge(f"a request may carry at most {MAX_HEADER_FIELDS} header fields")
    total = target_bytes
    for name, value in headers:
        size = len(name) + len(value)
        if size > MAX_FIELD_BYTES:
            return HeadersTooLarge(f"a header field may be at most {MAX_FIELD_BYTES} bytes")
        total += size + 4
    if total > MAX_HEAD_BYTES:
        return HeadersTooLarge(f"the request head may be at most {MAX_HEAD_BYTES} bytes")
    return None


class _BoundedConnection(h11.Connection):
    """h11's server connection, remembering the status h11 suggests for the request it could not read."""

    refused_status: int | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_status = exc.error_status_hint
            raise


class LimitedH11Protocol(UpgradeIgnoringH11Protocol):
    """h11 after an upgrade hand-over, with the head bounded at :data:`MAX_HEAD_BYTES` and answered with the
    431 problem past it (h11 stops buffering there: its ``max_incomplete_event_size``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _BoundedConnection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    def send_400_response(self, msg: str) -> None:
        if not isinstance(self.conn, _BoundedConnection) or self.conn.refused_status != 431:
            super().send_400_response(msg)
            return
        refusal = HeadersTooLarge(f"the request head may be at most {MAX_HEAD_BYTES} bytes")
        self.logger.warning("request head refused: %s", refusal.detail)
        body = _problem_body(refusal)
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        # RFC 9112 §9.6 / h11: after a RemoteProtocolError a response may still be sent, then the connection ends.
        for event in (h11.Response(status_code=431, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


class _HeadTooLarge(Exception):
    """Raised inside an httptools callback to stop the parser; the protocol then answers 431."""


class LimitedHttpProtocol(HubHttpProtocol):
    """The hub's httptools protocol with the request head bounded while it streams in."""

    h11_protocol_class = LimitedH11Protocol

    _in_head = False
    _head_bytes = 0
    _refusal: HeduiError | None = None
    _dropped: int | None = None  # bytes read and dropped after a refusal, while lingering

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_TARGET_BYTES:
            self._refusal = UriTooLong(f"the request target may be at most {MAX_TARGET_BYTES} bytes")
            raise _HeadTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._refusal = head_problem([*self.headers, (name, value)], len(self.url))
        if self._refusal is not None:
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._dropped is not None:
            self._dropped += len(data)
            if self._dropped > _LINGER_BYTES:
                self.transport.close()
            return
        super().data_received(data)
        if self._in_head and self._dropped is None and not self.transport.is_closing():
            # Still inside a head after this chunk: every byte of it was head (request line or fields).
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refusal = HeadersTooLarge(f"the request head may be at most {MAX_HEAD_BYTES} bytes")
                self.send_400_response(self._refusal.detail)

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self.logger.warning("request head refused: %s", self._refusal.detail)
        body = _problem_body(self._refusal)
        status = self._refusal.status
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._dropped = 0
        asyncio.get_running_loop().call_later(_LINGER_S, self.transport.close)


class HeaderLimits:
    """ASGI middleware: a request whose head exceeds the limits gets the 431 problem, and the app never runs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http":
            target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            refusal = head_problem(list(scope["headers"]), target)
            if refusal is not None:
                body = _problem_body(refusal)
                await send(
                    {
                        "type": "http.response.start",
                        "status": refusal.status,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode("ascii")),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
        await self.app(scope, receive, send)
