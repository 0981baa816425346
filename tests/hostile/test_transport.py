"""Sizes and headers over raw sockets against the real hub: bodies over their limit are refused while they
stream (the hub answers long before the client could finish sending), and request heads past their limits
get 431/414 on every endpoint."""

from __future__ import annotations

import pytest

from tests.hostile.kit import Hostile

pytestmark = pytest.mark.asyncio(loop_scope="session")
CHUNK = b"a" * 65_536
TWO_HUNDRED_MB = 200 * 1_048_576


def head(method: str, path: str, *fields: bytes) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: hub\r\n".encode() + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


async def test_a_declared_200_mb_token_request_is_refused_before_it_is_read(hostile: Hostile) -> None:
    request = head(
        "POST",
        "/oauth2/token",
        b"Content-Type: application/x-www-form-urlencoded",
        b"Content-Length: %d" % TWO_HUNDRED_MB,
    )
    status, document, sent = await hostile.raw_exchange(request, *([CHUNK] * 3200))
    hostile.expect_raw("transport", "declared 200 MB token request", status, document, 413, "invalid_request")
    assert sent < TWO_HUNDRED_MB


async def test_a_streamed_200_mb_token_request_is_refused_while_it_streams(hostile: Hostile) -> None:
    """Chunked, with no length announced: the limit holds while the chunks arrive."""
    request = head(
        "POST", "/oauth2/token", b"Content-Type: application/x-www-form-urlencoded", b"Transfer-Encoding: chunked"
    )
    chunk = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
    status, document, sent = await hostile.raw_exchange(request, *([chunk] * 3200))
    hostile.expect_raw("transport", "streamed 200 MB token request", status, document, 413, "invalid_request")
    assert sent < TWO_HUNDRED_MB


async def test_an_oversized_envelope_is_refused_while_it_streams(hostile: Hostile) -> None:
    token = await hostile.token(hostile.members["mis"], "verify")
    request = head(
        "POST",
        "/v1/verifications",
        b"Content-Type: application/jose",
        b"Authorization: Bearer " + token.encode(),
        b"Transfer-Encoding: chunked",
    )
    chunk = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
    status, document, sent = await hostile.raw_exchange(request, *([chunk] * 3200))
    hostile.expect_raw("transport", "streamed 200 MB envelope", status, document, 400, "envelope_invalid")
    assert sent < TWO_HUNDRED_MB


@pytest.mark.parametrize("path", ["/healthz", "/oauth2/token", "/v1/verifications", "/v1/audit/entries?start=0&end=1"])
@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ([b"X-F%d: v" % i for i in range(101)], 431, "request_headers_too_large"),
        ([b"X-F%d: v" % i for i in range(100_000)], 431, "request_headers_too_large"),
        ([b"X-Big: " + b"a" * 16_384], 431, "request_headers_too_large"),
    ],
    ids=["101 fields", "100,000 fields", "16 KB field"],
)
async def test_header_limits_on_every_endpoint(
    hostile: Hostile, path: str, fields: list[bytes], status: int, code: str
) -> None:
    result, document, _ = await hostile.raw_exchange(head("GET", path, *fields))
    hostile.expect_raw("transport", f"{len(fields)} fields on {path}", result, document, status, code)


async def test_a_16_mb_header_is_refused_while_it_streams(hostile: Hostile) -> None:
    parts = [b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Big: ", *([CHUNK] * 256)]
    status, document, sent = await hostile.raw_exchange(*parts)
    hostile.expect_raw("transport", "16 MB header", status, document, 431, "request_headers_too_large")
    assert sent < 16 * 1_048_576


async def test_a_16_mb_request_target_is_refused_while_it_streams(hostile: Hostile) -> None:
    status, document, sent = await hostile.raw_exchange(b"GET /v1/verifications/", *([CHUNK] * 256))
    hostile.expect_raw("transport", "16 MB request target", status, document, 414, "uri_too_long")
    assert sent < 16 * 1_048_576
