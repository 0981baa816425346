"""The adapter protocol (docs/architecture.md §7) and the value types that cross it.

An adapter turns one agency's answers about the household members in a :class:`SourceQuery` into
:class:`Fact` values in the unified vocabulary of ``contracts/indicators.yaml`` (the ``facts`` section),
with provenance. It raises :class:`gateway.errors.SourceError` subclasses when the agency cannot answer
properly; the broker (not the adapter) turns those, and timeouts, into per-source statuses.

Adapters are discovered through the ``hedui.adapters`` entry-point group; each entry point names a class
whose constructor takes ``(base_url: str, settings: AdapterSettings)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

JsonScalar = str | int | float | bool | None
FactValue = JsonScalar | list[JsonScalar] | dict[str, JsonScalar]


@dataclass(frozen=True, slots=True)
class QueryMember:
    """One household member as the requester listed them. ``index`` is the position in the request."""

    index: int
    id_number: str
    name: str
    relation: str

    def __repr__(self) -> str:  # never print identity numbers or names
        return f"QueryMember(index={self.index}, relation={self.relation!r})"


@dataclass(frozen=True, slots=True)
class SourceQuery:
    """What an adapter is asked: the members, why, for whom, and the reference date for 12-month windows."""

    verification_id: str
    purpose: str
    region: str
    members: tuple[QueryMember, ...]
    as_of: date


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact about one member, coded per ``contracts/indicators.yaml`` ``facts``.

    ``period`` is ``YYYY-MM`` for monthly values (income), ``None`` for point-in-time values.
    """

    code: str
    member: int
    value: FactValue
    period: str | None = None
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    agency: str
    as_of: date
    record_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What a source returned. ``attestation`` is the agency's signed statement of these facts when an edge
    node answered (docs/federation.md); adapters running in the hub leave it ``None``."""

    adapter: str
    facts: tuple[Fact, ...]
    provenance: Provenance
    attestation: str | None = None


@dataclass(frozen=True, slots=True)
class AdapterSettings:
    """Per-adapter limits; the broker applies timeout, retries and breaker around ``fetch``."""

    timeout_s: float = 5.0
    max_connections: int = 32
    max_response_bytes: int = 2 * 1024 * 1024
    extra: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Adapter(Protocol):
    name: str
    categories: frozenset[str]

    async def fetch(self, query: SourceQuery) -> SourceResult:
        """Ask the agency about every member of ``query``; raise ``SourceError`` subclasses on failure."""
        ...

    async def health(self) -> bool:
        """True when the agency answers its health check."""
        ...

    async def aclose(self) -> None:
        """Close the adapter's HTTP session."""
        ...
