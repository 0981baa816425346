"""The hub's HTTP protocol keeps the body of a request that asks to upgrade to h2c (Java's default HttpClient)
and answers it in HTTP/1.1 (RFC 9110 §7.8), on a real uvicorn server and on a real ``hedui serve``, over raw
sockets so that nothing between the test and the server rewrites the request."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.app import create_app
from gateway.http_protocol import HTTP_PROTOCOL, UpgradeBodyGuard
from gateway.keydir import init_hub_key_dir
from tests.support import serving

# What java.net.http.HttpClient (JDK 11-21, default HTTP_2 version) sends on a plain-HTTP connection.
H2C_HEADERS = (
    b"Connection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\n"
    b"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n"
)
FORM = b"grant_type=client_credentials&scope=verification"


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers with the method, path and body it received."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = scope["method"].encode() + b" " + scope["path"].encode() + b" " + body
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


@pytest_asyncio.fixture
async def echo_server() -> AsyncIterator[int]:
    async with serving(echo, HTTP_PROTOCOL) as port:
        yield port


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response with a Content-Length: its status line and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status, *fields = head.split(b"\r\n")
    length = next(int(f.split(b":")[1]) for f in fields if f.lower().startswith(b"content-length:"))
    return status, await asyncio.wait_for(reader.readexactly(length), 10)


def post(path: bytes, body: bytes, *, upgrade: bool) -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\n" + (H2C_HEADERS if upgrade else b"")
        + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )  # fmt: skip


async def test_an_h2c_upgrade_request_keeps_its_body_and_is_answered_in_http_1_1(echo_server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_server)
    writer.write(post(b"/oauth2/token", FORM, upgrade=True))
    status, body = await read_response(reader)
    assert status == b"HTTP/1.1 200 OK"  # not 101 Switching Protocols
    assert body == b"POST /oauth2/token " + FORM
    # The connection stays HTTP/1.1 for the next request, with or without another upgrade offer.
    for upgrade in (False, True):
        writer.write(post(b"/v1/verifications", b"second", upgrade=upgrade))
        assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"POST /v1/verifications second")
    writer.close()


async def test_a_body_sent_after_the_head_and_a_chunked_body_arrive_whole(echo_server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_server)
    request = post(b"/oauth2/token", FORM, upgrade=True)
    head, body = request.split(b"\r\n\r\n")
    writer.write(head + b"\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0)  # let the server parse the head alone before the body is sent
    writer.write(body)
    assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"POST /oauth2/token " + FORM)

    chunked = (
        b"POST /chunked HTTP/1.1\r\nHost: localhost\r\n" + H2C_HEADERS
        + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )  # fmt: skip
    writer.write(chunked)
    assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"POST /chunked hello world")
    writer.close()


async def test_requests_without_upgrade_are_unchanged(echo_server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_server)
    for n in range(3):
        writer.write(post(b"/plain", b"body %d" % n, upgrade=False))
        assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"POST /plain body %d" % n)
    writer.write(b"NOT HTTP\r\n\r\n")
    status, _ = await read_response(reader)
    assert status == b"HTTP/1.1 400 Bad Request"
    writer.close()


async def test_a_body_dropped_by_a_plain_httptools_server_is_refused_clearly() -> None:
    # uvicorn run by hand with its default protocol: the guard create_app installs turns the lost body into
    # a clear problem instead of an empty form or envelope.
    async with serving(UpgradeBodyGuard(echo), "httptools") as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post(b"/oauth2/token", FORM, upgrade=True))
        status, body = await read_response(reader)
        writer.close()
    assert status == b"HTTP/1.1 400 Bad Request"
    assert json.loads(body)["code"] == "request_body_lost"

    async with serving(UpgradeBodyGuard(echo), HTTP_PROTOCOL) as port:  # the hub's protocol: nothing lost
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for upgrade in (True, False):
            writer.write(post(b"/oauth2/token", FORM, upgrade=upgrade))
            assert await read_response(reader) == (b"HTTP/1.1 200 OK", b"POST /oauth2/token " + FORM)
        writer.close()
    assert any(middleware.cls is UpgradeBodyGuard for middleware in create_app().user_middleware)


async def test_hedui_serve_reads_the_body_of_an_h2c_upgrade_token_request(tmp_path: Path) -> None:
    init_hub_key_dir(tmp_path / "keys")
    env = dict(
        os.environ,
        HEDUI_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        HEDUI_KEY_DIR=str(tmp_path / "keys"),
    )
    hedui = Path(sys.executable).with_name("hedui")
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:  # port 0: the kernel picks a free port, which uvicorn logs
        process = await asyncio.create_subprocess_exec(hedui, "serve", "--port", "0", env=env, stderr=stderr)
    try:
        for _ in range(600):  # polled, up to 60 s on a loaded machine
            listening = re.search(r"Uvicorn running on http://127\.0\.0\.1:([0-9]+)", log.read_text(encoding="utf-8"))
            if listening:
                break
            assert process.returncode is None, log.read_text(encoding="utf-8")
            await asyncio.sleep(0.1)
        else:
            pytest.fail("hedui serve did not listen")
        reader, writer = await asyncio.open_connection("127.0.0.1", int(listening.group(1)))
        # A well-formed client_credentials request without a client assertion: only a hub that read the
        # body gets past the grant type to the missing client authentication.
        writer.write(post(b"/oauth2/token", FORM, upgrade=True))
        status, body = await read_response(reader)
        writer.close()
        assert (status, json.loads(body)["error"]) == (b"HTTP/1.1 401 Unauthorized", "invalid_client"), body
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
