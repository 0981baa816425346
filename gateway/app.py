"""``create_app(settings)``: the FastAPI application of the hub. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.api import audit, batches, consents, federation, matches, oauth2, registry, service, verifications
from gateway.api.problems import install_problem_handlers
from gateway.console import views as console
from gateway.context import open_hub
from gateway.http_limits import HeaderLimits
from gateway.http_protocol import UpgradeBodyGuard
from gateway.logs import RequestContext, configure_logging
from gateway.metrics import HubMetrics, RequestCounter
from gateway.misuse.service import start_detection
from gateway.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = HubMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.log_json:
            configure_logging()
        hub = await open_hub(settings, metrics)
        app.state.hub = hub
        app.state.misuse = start_detection(hub)
        app.state.console_oidc = console.oidc_client(settings)
        try:
            yield
        finally:
            if app.state.console_oidc is not None:
                await app.state.console_oidc.aclose()
            await app.state.misuse.aclose()
            await hub.aclose()

    app = FastAPI(
        title="Hedui hub",
        version="0.1.0",
        summary="Federated data exchange for social-assistance means testing (核对)",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(RequestCounter, metrics=metrics)
    app.add_middleware(RequestContext)
    app.add_middleware(UpgradeBodyGuard)  # a body dropped by the HTTP server is refused, not misread
    app.add_middleware(HeaderLimits)  # outermost: an oversized head reaches nothing else (gateway/http_limits.py)
    install_problem_handlers(app)
    app.include_router(service.router)
    app.include_router(oauth2.router)
    app.include_router(federation.router)
    app.include_router(verifications.router)
    app.include_router(registry.router)
    app.include_router(consents.router)
    app.include_router(matches.router)
    app.include_router(audit.router)
    app.include_router(batches.router)
    app.include_router(console.router)
    console.install(app)
    return app
