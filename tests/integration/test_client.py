"""HubClient raises only classes of gateway/errors.py: a hub it cannot reach is HubUnavailable (never the agency
error SourceUnavailable, never an httpx exception), an answer outside the protocol RemoteProblem. The "hubs"
here are real TCP servers that misbehave as a dead host, a proxy or a broken deployment would."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.client import HubClient
from gateway.envelope import generate_member_jwks
from gateway.errors import HeduiError, HubUnavailable, InvalidClient, RemoteProblem, StoreUnavailable

HUB_ID = "CN/GOV/11100000MB0348916Y/hub"
MEMBER_ID = "CN/GOV/11110101MB12345677/dibao-mis"

# What a stand-in hub does with a request for a path: answer these bytes, "close" without answering, "hang".
Behaviour = bytes | str


def http_answer(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body


def json_answer(status: str, document: dict[str, Any], content_type: str = "application/json") -> bytes:
    return http_answer(status, content_type, json.dumps(document).encode())


METADATA = json_answer("200 OK", {"token_endpoint": "/oauth2/token"})


@pytest_asyncio.fixture
async def stand_in() -> AsyncIterator[Callable[[dict[str, Behaviour]], Awaitable[str]]]:
    """Starts a TCP server answering each request path as told; returns its base URL."""
    servers: list[asyncio.Server] = []
    hanging: list[asyncio.StreamWriter] = []

    async def start(behaviours: dict[str, Behaviour]) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ", 2)[1].decode()
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                behaviour = behaviours[path]
                if behaviour == "hang":
                    hanging.append(writer)
                    return
                if behaviour == "close":
                    writer.close()
                    return
                assert isinstance(behaviour, bytes)
                writer.write(behaviour)
                await writer.drain()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for writer in hanging:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


def client(base_url: str, **options: Any) -> HubClient:
    return HubClient(base_url, member_id=MEMBER_ID, private_jwks=generate_member_jwks()[0], hub_id=HUB_ID, **options)


def refused_url() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


CALLS: dict[str, Callable[[HubClient], Awaitable[Any]]] = {
    "access_token": lambda hub: hub.access_token(),
    "verify": lambda hub: hub.verify({"case_id": "x"}),
    "get_verification": lambda hub: hub.get_verification("d4e5881d-ec96-4e7c-875d-3a87b1de26d9"),
    "post_envelope": lambda hub: hub.post_envelope("/v1/matches", {}),
}


@pytest.mark.parametrize("call", CALLS)
async def test_a_hub_that_refuses_connections_is_hub_unavailable(call: str) -> None:
    async with client(refused_url()) as hub:
        with pytest.raises(HubUnavailable) as caught:
            await CALLS[call](hub)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.status == 503


@pytest.mark.parametrize(("behaviour", "cause"), [("close", httpx.RemoteProtocolError), ("hang", httpx.ReadTimeout)])
async def test_a_hub_that_drops_or_never_answers_is_hub_unavailable(
    stand_in: Callable[[dict[str, Behaviour]], Awaitable[str]], behaviour: str, cause: type[Exception]
) -> None:
    base_url = await stand_in({"/.well-known/oauth-authorization-server": METADATA, "/oauth2/token": behaviour})
    async with client(base_url, timeout_s=0.5) as hub:
        with pytest.raises(HubUnavailable) as caught:
            await hub.access_token()
    assert isinstance(caught.value.__cause__, cause)


async def test_a_gateway_error_page_is_hub_unavailable_and_the_hubs_own_503_its_problem(
    stand_in: Callable[[dict[str, Behaviour]], Awaitable[str]],
) -> None:
    page = http_answer("502 Bad Gateway", "text/html", b"<html><body>502 Bad Gateway</body></html>")
    async with client(await stand_in({"/.well-known/oauth-authorization-server": page})) as hub:
        with pytest.raises(HubUnavailable, match="HTTP 502"):
            await hub.access_token()

    problem = {"type": "urn:hedui:problem:store_unavailable", "status": 503, "code": "store_unavailable"}
    own = json_answer("503 Service Unavailable", problem, "application/problem+json")
    async with client(await stand_in({"/.well-known/oauth-authorization-server": own})) as hub:
        with pytest.raises(StoreUnavailable):
            await hub.access_token()


@pytest.mark.parametrize(
    "answer",
    [
        http_answer("200 OK", "text/html", b"<html>portal login</html>"),  # a captive portal or a wrong URL
        json_answer("200 OK", {"issuer": "x"}),  # no token_endpoint
        json_answer("404 Not Found", {"detail": "Not Found"}),
        # Nested past any recursion limit: a plain json.loads would raise RecursionError, not a problem.
        http_answer("200 OK", "application/json", b"[" * 200_000 + b"]" * 200_000),
        http_answer("200 OK", "application/json", b'{"token_endpoint": "/a", "token_endpoint": "/b"}'),
    ],
    ids=["html", "no-token-endpoint", "plain-404", "nested-too-deep", "repeated-member"],
)
async def test_answers_outside_the_protocol_are_remote_problems(
    stand_in: Callable[[dict[str, Behaviour]], Awaitable[str]], answer: bytes
) -> None:
    async with client(await stand_in({"/.well-known/oauth-authorization-server": answer})) as hub:
        with pytest.raises(RemoteProblem):
            await hub.access_token()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (json_answer("401 Unauthorized", {"error": "invalid_client", "error_description": "no"}), InvalidClient),
        (json_answer("400 Bad Request", {"error": "invalid_grant"}), RemoteProblem),  # not a code of this hub
        (http_answer("400 Bad Request", "text/plain", b"bad"), RemoteProblem),
        (json_answer("200 OK", {"token_type": "Bearer"}), RemoteProblem),  # no access_token
    ],
    ids=["invalid_client", "unknown-error", "not-json", "no-access-token"],
)
async def test_token_endpoint_answers_become_classes_of_the_tree(
    stand_in: Callable[[dict[str, Behaviour]], Awaitable[str]], answer: bytes, error: type[HeduiError]
) -> None:
    base_url = await stand_in({"/.well-known/oauth-authorization-server": METADATA, "/oauth2/token": answer})
    async with client(base_url) as hub:
        with pytest.raises(error):
            await hub.access_token()
