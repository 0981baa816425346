"""Prometheus metrics of the hub (docs/architecture.md §11). Labels never carry personal data: only adapter names,
purposes, statuses and problem codes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        )
        self.consent_denials = Counter(
            "hedui_consent_denials",
            "Verifications refused by the consent check, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.audit_tree_size = Gauge(
            "hedui_audit_tree_size", "Entries in the audit log (read when metrics are scraped)", registry=self.registry
        )
        self.problems = Counter(
            "hedui_problems",
            "Problem responses, by stable problem code",
            ["code"],
            registry=self.registry,
        )
