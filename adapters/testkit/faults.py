"""Fault injection shared by every simulated agency: latency, jitter, errors, hangs, flapping, resets,
truncated or malformed answers, and answers with another person's record.

Applied as aiohttp middleware, so the same knobs work whatever protocol the agency speaks; only "another
person's record" is applied by each agency (:meth:`FaultInjector.whose_record`), because where a record
names its person is protocol-specific. The random stream is seeded, so a run with the same settings and
request order injects the same faults (a knob left at 0 draws nothing from the stream).
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(slots=True)
class FaultSettings:
    """Knobs of one simulated agency. Rates are probabilities per request, 0 to 1."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 3600.0
    malformed_rate: float = 0.0
    seed: int = 0
    # HTTP status of an injected error (503 by default; 500 for a "500 storm").
    error_status: int = 503
    # Flapping: requests alternate between ``flap_period`` failing (``error_status``) and as many answered.
    flap_period: int = 0
    # A well-formed answer outside the contract (a JSON object / XML element the contract does not have).
    garbage_rate: float = 0.0
    # The connection is reset (TCP RST) after the request was read, before any answer.
    reset_rate: float = 0.0
    # Another person's record: the answer about a person asked about is another person's. With
    # ``other_person_echo`` the record is labelled with the number asked (only what the record says can
    # give it away); otherwise it names the other person's number.
    other_person_rate: float = 0.0
    other_person_echo: bool = False

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> FaultSettings:
        known = {name: values[name] for name in cls.__slots__ if name in values}
        return cls(**known)


class FaultInjector:
    """Holds an agency's live fault settings and request counters; tests may change ``settings`` at will."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = settings or FaultSettings()
        self._random = random.Random(self.settings.seed)
        self.requests: Counter[str] = Counter()

    def whose_record(self, id_number: str, people: Sequence[str], asked: Sequence[str] = ()) -> tuple[str, str]:
        """For a person asked about: (whose record to answer with, the identity number to label it with).

        Without the fault both are ``id_number``. With it, the record is that of another person of
        ``people`` (the agency's identity numbers), not among those ``asked`` in the same request, born on
        another day or of the other sex, so that what the record says contradicts the number asked about;
        the persons of one request get different other persons (one record per person stays true).
        """
        rate = self.settings.other_person_rate
        if not rate or self._random.random() >= rate:
            return id_number, id_number
        others = [candidate for candidate in people if candidate not in asked and _tells_apart(candidate, id_number)]
        if not others:
            return id_number, id_number
        position = asked.index(id_number) if id_number in asked else 0
        other = others[position % len(others)]
        return other, id_number if self.settings.other_person_echo else other

    def reset_counters(self) -> None:
        self.requests.clear()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in ("/health", "/healthz"):
            response: web.StreamResponse = await handler(request)
            return response
        self.requests[request.path] += 1
        settings = self.settings
        delay = settings.latency_ms
        if settings.jitter_ms:
            delay += self._random.uniform(0, settings.jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if settings.hang_rate and self._random.random() < settings.hang_rate:
            await asyncio.sleep(settings.hang_s)
        if settings.reset_rate and self._random.random() < settings.reset_rate:
            await request.read()
            transport = request.transport
            if transport is not None:
                _reset(transport)
            return web.Response(status=503)  # never sent: the connection is gone
        if self._fails_now():
            return web.Response(status=settings.error_status, text="injected failure", content_type="text/plain")
        response = await handler(request)
        if not isinstance(response, web.Response) or not isinstance(response.body, bytes | bytearray):
            return response
        if settings.garbage_rate and self._random.random() < settings.garbage_rate:
            xml = "xml" in (response.content_type or "")
            response.body = b'<?xml version="1.0"?><unexpected/>' if xml else b'{"unexpected": true}'
        elif settings.malformed_rate and self._random.random() < settings.malformed_rate:
            # Cut the real answer in half: truncated JSON or XML in the agency's own content type.
            response.body = bytes(response.body[: len(response.body) // 2])
        return response

    def _fails_now(self) -> bool:
        settings = self.settings
        if settings.flap_period:
            return (self.total_requests - 1) // settings.flap_period % 2 == 0
        return bool(settings.error_rate) and self._random.random() < settings.error_rate


def _tells_apart(candidate: str, id_number: str) -> bool:
    """Whether GB 11643 birth date (positions 7-14) or sex (parity of position 17) differ."""
    return candidate[6:14] != id_number[6:14] or int(candidate[16]) % 2 != int(id_number[16]) % 2


def _reset(transport: asyncio.Transport) -> None:
    """Close with TCP RST instead of FIN (SO_LINGER with a zero timeout), as a crashing peer does."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
