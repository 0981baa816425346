"""Request-head limits (RFC 6585 §5, 431) on a real uvicorn server with the hub's protocol, over raw sockets,
and the same limits in the app's ASGI middleware for any other server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.http_limits import MAX_FIELD_BYTES, MAX_HEADER_FIELDS, MAX_TARGET_BYTES, HeaderLimits
from gateway.http_protocol import HTTP_PROTOCOL
from tests.support import raw_exchange, serving


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the number of header fields and body bytes it received."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    answer = json.dumps({"headers": len(scope["headers"]), "body": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


@pytest_asyncio.fixture
async def port() -> AsyncIterator[int]:
    async with serving(echo, HTTP_PROTOCOL) as bound:
        yield bound


async def exchange(port: int, *parts: bytes) -> tuple[int, dict[str, Any]]:
    status, document, _ = await raw_exchange("127.0.0.1", port, *parts)
    return status, document


def request(fields: list[bytes], target: bytes = b"/", body: bytes = b"") -> bytes:
    head = b"POST " + target + b" HTTP/1.1\r\nHost: hub\r\n" + b"".join(f + b"\r\n" for f in fields)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def numbered(count: int) -> list[bytes]:
    return [b"X-F%d: v" % i for i in range(count)]


async def test_an_ordinary_request_passes(port: int) -> None:
    status, answer = await exchange(port, request(numbered(MAX_HEADER_FIELDS - 2), body=b"x" * 300_000))
    assert (status, answer) == (200, {"headers": MAX_HEADER_FIELDS, "body": 300_000})


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param([request(numbered(MAX_HEADER_FIELDS))], id="one field too many"),
        pytest.param([request(numbered(100_000))], id="100,000 fields"),
        pytest.param([request([b"X-Big: " + b"a" * MAX_FIELD_BYTES])], id="one large field"),
    ],
)
async def test_oversized_heads_get_431_with_the_problem(port: int, parts: list[bytes]) -> None:
    status, problem = await exchange(port, *parts)
    assert status == 431
    assert problem["code"] == "request_headers_too_large"


@pytest.mark.parametrize("size", [MAX_TARGET_BYTES + 1, 16 * 1_048_576])
async def test_a_long_request_target_gets_414(port: int, size: int) -> None:
    status, problem = await exchange(port, b"GET /", *([b"a" * 65_536] * (size // 65_536)), b"a" * (size % 65_536))
    assert (status, problem["code"]) == (414, "uri_too_long")


async def test_a_16_mb_field_is_refused_while_it_streams(port: int) -> None:
    """The server answers once the head passes its limit; the test stops sending when the connection closes,
    so far less than 16 MB needs to cross (the server never buffers it whole)."""
    chunk = b"a" * 65_536
    parts = [b"GET / HTTP/1.1\r\nHost: hub\r\nX-Big: ", *([chunk] * 256)]
    status, problem = await exchange(port, *parts)
    assert status == 431
    assert problem["code"] == "request_headers_too_large"


async def test_keep_alive_requests_are_counted_each_on_its_own(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(3):
            writer.write(request(numbered(60), body=b"y" * 100_000))
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            assert head.startswith(b"HTTP/1.1 200")
            length = next(int(f.split(b":")[1]) for f in head.split(b"\r\n") if f.lower().startswith(b"content-length"))
            await reader.readexactly(length)
    finally:
        writer.close()


async def test_the_asgi_middleware_applies_the_same_limits() -> None:
    app = HeaderLimits(echo)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        ok = await client.post("/", headers={f"x-f{i}": "v" for i in range(50)})
        too_many = await client.post("/", headers={f"x-f{i}": "v" for i in range(MAX_HEADER_FIELDS + 1)})
        too_large = await client.post("/", headers={"x-big": "a" * (MAX_FIELD_BYTES + 1)})
        too_long = await client.get("/" + "a" * MAX_TARGET_BYTES)
    assert ok.status_code == 200
    assert (too_long.status_code, too_long.json()["code"]) == (414, "uri_too_long")
    for refused in (too_many, too_large):
        assert refused.status_code == 431
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "request_headers_too_large"


async def test_after_an_h2c_hand_over_an_oversized_head_still_gets_431(port: int) -> None:
    """The first request offers h2c, so h11 serves the connection from then on (gateway/http_protocol.py); the
    next request on it, with a head past the limit, gets the same 431 problem as on httptools."""
    upgrade = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABk"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request([upgrade], body=b"z" * 10))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200")
        length = next(int(f.split(b":")[1]) for f in head.split(b"\r\n") if f.lower().startswith(b"content-length"))
        assert json.loads(await reader.readexactly(length)) == {"headers": 5, "body": 10}
        writer.write(
            b"GET / HTTP/1.1\r\nHost: hub\r\n" + b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 8000) for i in range(9))
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 431")
        length = next(int(f.split(b":")[1]) for f in head.split(b"\r\n") if f.lower().startswith(b"content-length"))
        assert json.loads(await reader.readexactly(length))["code"] == "request_headers_too_large"
    finally:
        writer.close()
