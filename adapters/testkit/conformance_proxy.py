"""A man-in-the-middle between an adapter and its agency, for the conformance suite (adapters/testkit/conformance.py).

It forwards every request to the agency unchanged and, depending on its ``mode``, changes the answer:
``pass`` (as is), ``swap`` (every identity number the request asked about is replaced, in the answer, by
another valid number: a record about the wrong person), ``hold`` (no answer until :meth:`release`: the
adapter's own deadline must end the call), ``unavailable`` (HTTP 503) or ``garbage`` (HTTP 200 with a body
that is no protocol's).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import web

from gateway.ids import id_number_check_char

Mode = Literal["pass", "swap", "hold", "unavailable", "garbage"]
_ID_NUMBER = re.compile(rb"[1-9][0-9]{16}[0-9Xx]")
_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def other_person(id_number: str) -> str:
    """A different valid identity number of the same shape (sequence digits changed, check char recomputed)."""
    serial = (int(id_number[14:17]) + 500) % 1000
    first17 = f"{id_number[:14]}{serial:03d}"
    return first17 + id_number_check_char(first17)


@dataclass
class ConformanceProxy:
    agency_url: str
    mode: Mode = "pass"
    requests: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    url: str = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self.url

    def set_mode(self, mode: Mode) -> None:
        if mode == "hold":
            self._released.clear()
        self.mode = mode

    def release(self) -> None:
        """End a ``hold``: the held answers are sent (to an adapter that must have given up already)."""
        self._released.set()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        if self.mode == "unavailable":
            return web.Response(status=503, text="maintenance")
        if self.mode == "garbage":
            return web.Response(status=200, body=b"\x00not-an-answer{<", content_type=request.content_type)
        if self.mode == "hold":
            await self._released.wait()
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, f"{self.agency_url.rstrip('/')}{request.rel_url}", data=body, headers=headers
        ) as answer:
            content = await answer.read()
            answer_headers: Mapping[str, str] = {
                k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP | {"content-encoding"}
            }
            status = answer.status
        if self.mode == "swap":
            for asked in {match.group(0) for match in _ID_NUMBER.finditer(body)}:
                number = asked.decode("ascii").upper()
                content = content.replace(asked, other_person(number).encode("ascii"))
        return web.Response(status=status, body=content, headers=answer_headers)

    async def stop(self) -> None:
        self._released.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
