"""The HTTP/1.1 protocol the hub is served with: uvicorn's httptools protocol, except for requests that ask to
upgrade to anything but WebSocket (Java's default ``HttpClient`` sends ``Upgrade: h2c`` on plain HTTP).

Why: httptools tells llhttp to skip the body of every request that carries ``Connection: Upgrade`` (its
``on_headers_complete`` callback returns 1 when the upgrade flag is set), so the body bytes come back as
"upgraded protocol" data, which uvicorn drops with a warning after it has already run the request with an
empty body. The hub then answered a Java token request with ``unsupported_grant_type`` and a sealed request
with ``envelope_invalid``. RFC 9110 §7.8 lets a server ignore ``Upgrade`` and answer in HTTP/1.1, which is what
h11 does; so such a connection is handed to uvicorn's h11 protocol with the request head rebuilt and every
byte received after it, exactly as uvicorn hands a WebSocket upgrade to its WebSocket protocol. Every other
request keeps the faster httptools parser.

``hedui serve`` and ``hedui sandbox`` pass :data:`HTTP_PROTOCOL` to uvicorn; running uvicorn by hand, pass
``--http h11`` (its CLI accepts only its own protocol names). Where neither was done, :class:`UpgradeBodyGuard`
(installed by ``create_app``) refuses such a request with ``request_body_lost`` instead of letting it reach an
endpoint with an empty body, where it would fail with a misleading error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import httptools
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.api.problems import problem_response
from gateway.errors import RequestBodyLost

HTTP_PROTOCOL = "gateway.http_limits:LimitedHttpProtocol"
"""The ``http`` option of ``uvicorn.Config`` / ``uvicorn.run`` for the hub: this protocol, with the request
head bounded (gateway/http_limits.py)."""

_log = logging.getLogger("hedui.http")
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")  # RFC 9110 §8.6: 1*DIGIT (ASCII)


class UpgradeIgnoringH11Protocol(H11Protocol):
    """h11 answers an upgrade request in HTTP/1.1 (RFC 9110 §7.8); the hub expects these, so no warning."""

    def _unsupported_upgrade_warning(self) -> None:
        _log.debug("ignored an HTTP upgrade request (%s)", self._get_upgrade())


class HubHttpProtocol(HttpToolsProtocol):
    """httptools, with non-WebSocket upgrade requests handed to h11 with their body intact."""

    _hand_over = False
    # What serves a connection after the hand-over (gateway.http_limits bounds its request heads too).
    h11_protocol_class: type[H11Protocol] = UpgradeIgnoringH11Protocol

    def _is_foreign_upgrade(self) -> bool:
        return bool(self.parser.should_upgrade()) and not self._should_upgrade()

    def on_headers_complete(self) -> None:
        if self._is_foreign_upgrade():
            self._hand_over = True  # don't start the request: h11 will, with its body
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._hand_over:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._hand_over:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade as upgrade:
            if self._hand_over:
                self._hand_over_to_h11(data[upgrade.args[0] :])
            elif self._should_upgrade():
                self.handle_websocket_upgrade()

    def _hand_over_to_h11(self, rest: bytes) -> None:
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            # An upgrade request pipelined behind an unanswered one: answering it now could interleave the two
            # answers, so the connection is closed (a client may not pipeline after an upgrade request anyway).
            self.transport.close()
            return
        self.connections.discard(self)
        version = self.parser.get_http_version().encode("ascii")
        head = [self.parser.get_method(), b" ", self.url, b" HTTP/", version, b"\r\n"]
        for name, value in self.headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        protocol = self.h11_protocol_class(config=self.config, server_state=self.server_state, app_state=self.app_state)
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.data_received(b"".join(head) + rest)


class UpgradeBodyGuard:
    """ASGI middleware: a request that offers an upgrade and declares a body, but whose body arrived empty,
    was served by a protocol that dropped it (uvicorn's httptools without :class:`HubHttpProtocol`); it is
    answered ``400 request_body_lost`` (and logged) instead of reaching an endpoint with no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _declared_length(scope["headers"]) if scope["type"] == "http" else None
        if not declared or not _offers_upgrade(scope["headers"]):
            await self.app(scope, receive, send)
            return
        first = await receive()  # one message uvicorn already holds: nothing is buffered beyond it
        if first["type"] == "http.request" and not first.get("more_body") and len(first.get("body", b"")) < declared:
            _log.warning("the HTTP server dropped the body of an upgrade request: serve with %s", HTTP_PROTOCOL)
            error = RequestBodyLost()
            await problem_response(error.status, error.code, error.title, error.detail)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        await self.app(scope, replay, send)


def _offers_upgrade(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """RFC 9110 §7.8: an ``Upgrade`` field, announced in ``Connection``."""
    upgrade, connection = False, False
    for name, value in headers:
        if name == b"upgrade":
            upgrade = True
        elif name == b"connection":
            connection |= b"upgrade" in (token.strip().lower() for token in value.split(b","))
    return upgrade and connection


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length" and _CONTENT_LENGTH.fullmatch(value):
            return int(value)
    return None
