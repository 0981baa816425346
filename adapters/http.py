"""The one outbound HTTP client of the adapters: an aiohttp session per agency (docs/architecture.md §7).

aiohttp was measured at about 10x httpx's throughput under concurrency on this class of machine; one
keep-alive session per agency keeps connections warm across verifications.
"""

from __future__ import annotations

import aiohttp

from adapters.base import AdapterSettings
from gateway.errors import SourceProtocolError, SourceUnavailable


def new_session(settings: AdapterSettings) -> aiohttp.ClientSession:
    """A keep-alive session with the adapter's connection limit. Call from inside the event loop."""
    connector = aiohttp.TCPConnector(limit=settings.max_connections, keepalive_timeout=30, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
        raise_for_status=False,
    )


async def post_bytes(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    max_bytes: int,
) -> tuple[int, str, bytes]:
    """POST ``body`` and return (status, content type, body), reading at most ``max_bytes``.

    Connection errors and 5xx answers become :class:`SourceUnavailable`; an oversized answer becomes
    :class:`SourceProtocolError`. Timeouts are left to the broker, which owns the per-source deadline.
    """
    try:
        async with session.post(url, data=body, headers=headers) as response:
            if response.status >= 500:
                raise SourceUnavailable(f"agency answered HTTP {response.status}")
            return response.status, response.content_type, await read_limited(response, max_bytes)
    except aiohttp.ClientError as exc:
        raise SourceUnavailable(f"agency connection failed: {type(exc).__name__}") from exc


async def read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body, refusing (before or while reading) one larger than ``max_bytes``."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise SourceProtocolError(f"agency answer larger than {max_bytes} bytes")
    payload = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        payload.extend(chunk)
        if len(payload) > max_bytes:
            raise SourceProtocolError(f"agency answer larger than {max_bytes} bytes")
    return bytes(payload)


async def get_ok(session: aiohttp.ClientSession, url: str) -> bool:
    """Health probe: True on HTTP 2xx."""
    try:
        async with session.get(url) as response:
            return 200 <= response.status < 300
    except (aiohttp.ClientError, TimeoutError):
        return False
