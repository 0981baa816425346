from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from gateway.logs import REQUEST_ID_HEADER, JsonFormatter, RequestContext


def app() -> FastAPI:
    application = FastAPI()
    application.add_middleware(RequestContext)

    @application.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        logging.getLogger("gateway.test").info("looked at a thing")
        if thing_id == "broken":
            raise RuntimeError("a bug")
        return {"ok": "yes"}

    return application


async def test_request_ids_and_access_lines_carry_routes_not_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        given = await client.get("/v1/things/secret-value-1", headers={REQUEST_ID_HEADER: "abcdef12-from-proxy"})
        fresh = await client.get(
            "/v1/things/secret-value-2?id=110105194912310021", headers={REQUEST_ID_HEADER: "bad id!"}
        )
    assert given.headers[REQUEST_ID_HEADER] == "abcdef12-from-proxy"
    assert fresh.headers[REQUEST_ID_HEADER] != "bad id!"
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records if record.name in ("hedui.access",)]
    assert [line["route"] for line in lines] == ["/v1/things/{thing_id}"] * 2
    assert all(line["status"] == 200 for line in lines)
    # (httpx logs the test client's own requests; the hub's lines are the others)
    text = "\n".join(formatter.format(record) for record in caplog.records if record.name != "httpx")
    assert "secret-value" not in text and "110105194912310021" not in text


async def test_a_request_whose_handler_raised_gets_an_access_line_with_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        assert (await client.get("/v1/things/broken")).status_code == 500
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records if record.name == "hedui.access"]
    assert [(line["route"], line["status"]) for line in lines] == [("/v1/things/{thing_id}", 500)]


class _FormattedLines(logging.Handler):
    """Formats each record as it is emitted, as the hub's stream handler does (the request id is read then)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_lines_written_while_a_request_runs_carry_its_id() -> None:
    handler = _FormattedLines()
    logger = logging.getLogger("gateway.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        transport = httpx.ASGITransport(app=app())
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            given = await client.get("/v1/things/a", headers={REQUEST_ID_HEADER: "abcdef12-from-proxy"})
            fresh = await client.get("/v1/things/b")
    finally:
        logger.removeHandler(handler)
    assert [line["request_id"] for line in handler.lines] == [
        given.headers[REQUEST_ID_HEADER],
        fresh.headers[REQUEST_ID_HEADER],
    ]
    assert given.headers[REQUEST_ID_HEADER] == "abcdef12-from-proxy"


def test_exceptions_are_named_not_quoted() -> None:
    try:
        raise ValueError("110105194912310021 is somebody")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["exception"] == "ValueError"
    assert "110105194912310021" not in json.dumps(line)
