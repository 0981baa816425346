"""RFC 9457 problem details: every error response of the hub, never encrypted, never with personal data.

Each problem has a stable ``code`` extension (RFC 9457 §3.2) that clients branch on; ``type`` is a URN
built from it (RFC 9457 §3.1.1 allows any URI; the code list is documented in docs/problems.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import HeduiError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

ProblemPage = Callable[[Request, int, str, str, str], Response | None]
"""``(request, status, code, title, detail)`` -> an HTML page for a browser, or None for the problem document.
Set as ``app.state.problem_page`` by a part of the hub that people browse (the console)."""


def problem_response(status: int, code: str, title: str, detail: str, **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:hedui:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extensions)
    headers = None
    if status == 401:
        # RFC 6750 §3 for bearer-token failures; the envelope's own failures name their scheme likewise.
        scheme = "Bearer" if code == "invalid_token" else "Hedui-Envelope"
        headers = {"WWW-Authenticate": f'{scheme} error="{code}"'}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def hedui_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HeduiError)
        _count(request, exc.code)
        if exc.status >= 500:
            log.warning("problem %s on %s %s", exc.code, request.method, request.url.path)
        return _answer(request, exc.status, exc.code, exc.title, exc.detail, **exc.extensions)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        _count(request, "invalid_request")
        # Only locations and messages: pydantic's "input" would echo what the caller sent.
        errors = [{"loc": list(error["loc"]), "msg": error["msg"]} for error in exc.errors()]
        return _answer(request, 422, "invalid_request", "The request is not valid", "see errors", errors=errors)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        _count(request, code)
        return _answer(request, exc.status_code, code, str(exc.detail), str(exc.detail))

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        _count(request, "internal_error")
        return _answer(request, 500, "internal_error", "Internal error", "the hub could not complete the request")

    app.add_exception_handler(HeduiError, hedui_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


def _answer(request: Request, status: int, code: str, title: str, detail: str, **extensions: Any) -> Response:
    """The problem document (RFC 9457 §3), or the page a browsing person is shown instead (same status, same
    code, no extensions: they may carry field locations meant for programs)."""
    page: ProblemPage | None = getattr(request.app.state, "problem_page", None)
    if page is not None and (shown := page(request, status, code, title, detail)) is not None:
        return shown
    return problem_response(status, code, title, detail, **extensions)


def _count(request: Request, code: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.problems.labels(code).inc()
