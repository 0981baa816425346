"""Fan-out to the agency adapters: discovery, deadlines, retries, circuit breakers, per-source results."""

from gateway.broker.breaker import CircuitBreaker
from gateway.broker.fanout import Broker, Readiness, SourceOutcome, SourcePolicy
from gateway.broker.registry import discover_adapters, load_adapters

__all__ = [
    "Broker",
    "CircuitBreaker",
    "Readiness",
    "SourceOutcome",
    "SourcePolicy",
    "discover_adapters",
    "load_adapters",
]
