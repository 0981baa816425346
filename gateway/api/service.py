"""Operational endpoints: liveness, readiness, metrics, and the hub's public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.deps import hub_of
from gateway.api.problems import problem_response
from gateway.scraped import refresh_scraped_metrics

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
    """Readiness: the database answers. Agency health is reported but does not gate readiness, because a
    verification with an agency down still completes as ``partial``."""
    hub = hub_of(request)
    ready = await hub.database.ping()
    hub.metrics.record_readiness(ready)
    if not ready:
        return problem_response(503, "store_unavailable", "Not ready", "the database does not answer")
    return {"status": "ready", "sources": await hub.broker.health()}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    hub = hub_of(request)
    await refresh_scraped_metrics(hub)
    return Response(hub.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> JSONResponse:
    """The hub's public signing and encryption keys (RFC 7517 §5)."""
    return JSONResponse(
        hub_of(request).public_jwks(),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300"},
    )
