"""Operational endpoints: liveness, readiness, metrics, and the hub's public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.deps import hub_of
from gateway.api.problems import problem_response
from gateway.errors import NotReady
from gateway.scraped import refresh_scraped_metrics

router = APIRouter(tags=["service"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
    """Readiness (issue 11 defect 12): the database answers, at least one source is configured, and every
    configured source answers its health check unless it is listed in ``HEDUI_OPTIONAL_SOURCES``. A
    verification with a source down would still complete as ``partial``, but a replica that cannot reach
    a required agency should not be sent traffic while others can."""
    hub = hub_of(request)
    if not await hub.database.ping():
        hub.metrics.record_readiness(False)
        return problem_response(503, "store_unavailable", "Not ready", "the database does not answer")
    readiness = await hub.broker.readiness(hub.settings.agencies, set(hub.settings.optional_sources))
    hub.metrics.record_readiness(readiness.ready)
    if not readiness.ready:
        return problem_response(
            503,
            NotReady.code,
            NotReady.title,
            "a required source is not reachable",
            reasons=list(readiness.reasons),
            sources=readiness.sources,
        )
    return {"status": "ready", "sources": readiness.sources}


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
