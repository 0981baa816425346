"""Fault injection shared by every simulated agency: latency, jitter, errors, hangs, malformed answers.

Applied as aiohttp middleware, so the same knobs work whatever protocol the agency speaks. The random
stream is seeded, so a run with the same settings and request order injects the same faults.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
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
        if settings.error_rate and self._random.random() < settings.error_rate:
            return web.Response(status=503, text="injected failure", content_type="text/plain")
        response = await handler(request)
        if (
            settings.malformed_rate
            and isinstance(response, web.Response)
            and isinstance(response.body, bytes | bytearray)
            and self._random.random() < settings.malformed_rate
        ):
            # Cut the real answer in half: truncated JSON or XML in the agency's own content type.
            response.body = bytes(response.body[: len(response.body) // 2])
        return response
