"""Shared by the tests of the REST agencies (hukou, housing): a record of every HTTP exchange an agency
served, and validation of JSON bodies against the agency's OpenAPI 3.1 contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

from adapters.testkit.faults import FaultInjector
from adapters.testkit.server import RunningAgency, start_agency


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    url: str
    request_body: bytes
    status: int
    content_type: str
    response_body: bytes


@dataclass
class RecordedAgency:
    """A running simulated agency and, in order, every exchange it served."""

    running: RunningAgency
    log: list[Exchange]

    @property
    def faults(self) -> FaultInjector:
        return self.running.faults


async def start_recorded_agency(name: str, app: web.Application, faults: FaultInjector) -> RecordedAgency:
    """Start ``app`` (built with ``faults.middleware``) with a recorder in front of all its middlewares."""
    log: list[Exchange] = []
    app.middlewares.insert(0, _recorder(log))
    return RecordedAgency(await start_agency(name, app, faults), log)


def _recorder(log: list[Exchange]) -> Any:
    """Outermost middleware: what reached the agency and what it sent back, fault injection included."""

    def exchange(request: web.Request, body: bytes, response: web.Response) -> Exchange:
        assert isinstance(response.body, bytes)
        return Exchange(
            request.method, request.path, str(request.url), body, response.status, response.content_type, response.body
        )

    @web.middleware
    async def record(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        body = await request.read()
        try:
            response = await handler(request)
        except web.HTTPException as refusal:  # aiohttp renders raised HTTP errors after the middlewares
            log.append(exchange(request, body, refusal))
            raise
        assert isinstance(response, web.Response)
        log.append(exchange(request, body, response))
        return response

    return record


def openapi_document(contract: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(contract.read_text(encoding="utf-8"))
    return document


def openapi_validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """OpenAPI 3.1 schemas are JSON Schema 2020-12; ``#/components/...`` refs resolve inside ``document``."""
    return Draft202012Validator({**schema, "components": document["components"]}, format_checker=FormatChecker())


def response_schema(document: dict[str, Any], path: str, method: str, status: int, content_type: str) -> Any:
    response = document["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"][content_type]["schema"]
