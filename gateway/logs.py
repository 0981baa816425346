"""JSON logs with request ids and no personal data (docs/architecture.md §11).

Every request gets an id (the caller's ``X-Request-Id`` if it is a plain token, else a new UUID), echoed in
the response and attached to every log line written while the request runs. The access line carries the
method, the route template (``/v1/verifications/{verification_id}``, never query strings), status and time.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
_request_id: ContextVar[str | None] = ContextVar("hedui_request_id", default=None)
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")  # fullmatch: `$` would let a newline in
access_log = logging.getLogger("hedui.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id is not None:
            line["request_id"] = request_id
        for field in ("method", "route", "status", "duration_ms"):
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            # The exception type and where, not its message: messages of outside libraries may quote data.
            exc_type = record.exc_info[0]
            line["exception"] = exc_type.__name__ if exc_type is not None else "unknown"
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (the hub's, uvicorn's) to one JSON stream on standard error."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # it logs raw paths; hedui.access logs routes


class RequestContext:
    """ASGI middleware: request id in, request id out, one access line per request.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs the rest of the application in a
    task of its own, with a task group, a cancel scope and a memory stream per request, which cost the hub
    about 0.3 ms of CPU per request (docs/performance.md, issue 12)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = offered if _ACCEPTED_ID.fullmatch(offered) else str(uuid.uuid4())
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # an exception no handler turned into a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": getattr(scope.get("route"), "path", "unmatched"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            _request_id.reset(token)
