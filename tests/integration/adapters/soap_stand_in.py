"""A fake SOAP agency for the tests of the SOAP adapters (civil affairs, banking): it answers as told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from adapters.testkit.faults import FaultInjector
from adapters.testkit.server import start_agency


@dataclass
class SoapStandIn:
    """Answers every POST /soap with the (status, content type, body) set by the test; keeps each request."""

    url: str = ""
    answer: tuple[int, str, str] = (200, "text/xml", "")
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def serve(self, status: int, content_type: str, body: str) -> str:
        self.answer = (status, content_type, body)
        return self.url


@asynccontextmanager
async def running_soap_stand_in() -> AsyncIterator[SoapStandIn]:
    """A :class:`SoapStandIn` listening on 127.0.0.1 for the duration of the block."""
    fake = SoapStandIn()

    async def soap(request: web.Request) -> web.Response:
        fake.requests.append((dict(request.headers), await request.read()))
        status, content_type, body = fake.answer
        return web.Response(status=status, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_post("/soap", soap)
    running = await start_agency("stand-in", app, FaultInjector())
    fake.url = running.url
    try:
        yield fake
    finally:
        await running.stop()
