"""Prometheus metrics of the hub (docs/architecture.md §11). Labels never carry personal data: only adapter names,
purposes, statuses and problem codes."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch to multiprocess mode
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HubMetrics:
    """One registry per app, so several hubs in one process (tests, the sandbox) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.verifications = Counter(
            "hedui_verifications",
            "Verifications finished, by purpose and report status",
            ["purpose", "status"],
            registry=self.registry,
        )
        self.verification_seconds = Histogram(
            "hedui_verification_seconds",
            "Time from an opened request envelope to a sealed report",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.source_seconds = Histogram(
            "hedui_source_seconds",
            "Latency of one agency source within a verification",
            ["adapter"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.source_outcomes = Counter(
            "hedui_source_outcomes",
            "Agency source outcomes, by adapter and status",
            ["adapter", "status"],
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            "hedui_breaker_open",
            "1 while a source's circuit breaker is open",
            ["adapter"],
            registry=self.registry,
            multiprocess_mode="max",  # under several workers: open if any worker's breaker is open
        )
        self.consent_denials = Counter(
            "hedui_consent_denials",
            "Verifications refused by the consent check, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.audit_tree_size = Gauge(
            "hedui_audit_tree_size",
            "Entries in the audit log (read when metrics are scraped)",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.problems = Counter(
            "hedui_problems",
            "Problem responses, by stable problem code",
            ["code"],
            registry=self.registry,
        )
        # Operations (docs/operations.md): what the alert rules of deploy/prometheus/alerts.yaml read.
        self.http_requests = Counter(
            "hedui_http_requests",
            "HTTP responses, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "hedui_ready",
            "1 while the last readiness check passed",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.readiness_transitions = Counter(
            "hedui_readiness_transitions",
            "Times the readiness check changed its answer (ready <-> not ready)",
            registry=self.registry,
        )
        self.audit_checkpoint_tree_size = Gauge(
            "hedui_audit_checkpoint_tree_size",
            "Tree size of the latest signed audit checkpoint (read when metrics are scraped)",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.audit_checkpoint_timestamp = Gauge(
            "hedui_audit_checkpoint_timestamp_seconds",
            "When the latest audit checkpoint was signed, Unix time (read when metrics are scraped)",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.key_expiry = Gauge(
            "hedui_key_expiry_timestamp_seconds",
            "When a hub key reaches its maximum age (HEDUI_KEY_MAX_AGE_DAYS) and must be rotated, Unix time",
            ["key"],
            registry=self.registry,
            multiprocess_mode="min",
        )
        self.misuse_alerts = Counter(
            "hedui_misuse_alerts",
            "Alerts raised by misuse detection rules (contracts/misuse-rules.yaml), by rule",
            ["rule"],
            registry=self.registry,
        )

        self._last_ready: bool | None = None

    def exposition(self) -> bytes:
        """The text format of every metric. Under ``hedui serve --workers N`` (PROMETHEUS_MULTIPROC_DIR set)
        each worker writes its values to files there and any worker's scrape adds up all of them: counters
        and histograms summed, gauges by the mode given above."""
        if os.environ.get(MULTIPROCESS_DIR_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def record_readiness(self, ready: bool) -> None:
        """The readiness gauge, and a transition counted whenever the answer changes (flapping shows there)."""
        if self._last_ready is not None and self._last_ready != ready:
            self.readiness_transitions.inc()
        self._last_ready = ready
        self.ready.set(float(ready))


class RequestCounter:
    """ASGI middleware: one count of ``hedui_http_requests`` per response, by route template (never the raw
    path: it could carry an id), 500 for an exception that escaped the handlers. Plain ASGI for the reason
    given at :class:`gateway.logs.RequestContext`."""

    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app = app
        self._requests = metrics.http_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self._requests.labels(scope["method"], route, str(status)).inc()
