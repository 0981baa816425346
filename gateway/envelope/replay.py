"""Replay caches: each accepted ``(iss, jti)`` is remembered until the message could no longer be accepted.

``open_envelope`` calls :meth:`ReplayCache.remember` last, with ``exp`` plus the clock skew. A pair that is
still stored is a replay whatever its expiry: a message past its expiry is refused by the time checks
before it reaches the cache, so expired rows only wait for the next purge. Purges run at most once per
``purge_interval_s`` per cache object, not on every call.

Hub replicas must share one :class:`SqlReplayCache` (docs/architecture.md §4, §10); :class:`MemoryReplayCache` serves a
single process (a member's client, an edge node, tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import ConfigurationError, Replayed
from gateway.store import Database
from gateway.store.models import ReplayEntry

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JtiClaim:
    """What ``open_envelope`` remembers of an accepted message: ``(issuer, jti)`` until ``expires_at``.

    A caller that opens with ``replay=None`` gets it from :func:`~gateway.envelope.jti_claim` and must
    remember it itself before it acts on the message (the verification flow does so in its checks' round
    trip); a replayed claim ends the request with :class:`Replayed`."""

    issuer: str
    jti: str
    expires_at: datetime


class ReplayCache(Protocol):
    async def remember(self, issuer: str, jti: str, expires_at: datetime) -> None:
        """Record ``(issuer, jti)`` until ``expires_at`` (timezone-aware); :class:`Replayed` if already seen."""
        ...


class MemoryReplayCache:
    """A per-process replay cache: a dict with a periodic purge of expired entries."""

    def __init__(self, *, purge_interval_s: float = 60.0, clock: Clock = _utc_now) -> None:
        self._entries: dict[tuple[str, str], datetime] = {}
        self._interval = timedelta(seconds=purge_interval_s)
        self._clock = clock
        self._next_purge = clock() + self._interval

    async def remember(self, issuer: str, jti: str, expires_at: datetime) -> None:
        expires_at = _as_utc(expires_at)
        if self._clock() >= self._next_purge:
            await self.purge()
        # No await between the look-up and the insert: atomic on the event loop.
        if (issuer, jti) in self._entries:
            raise Replayed()
        self._entries[(issuer, jti)] = expires_at

    async def purge(self) -> int:
        """Forget expired entries; returns how many."""
        now = self._clock()
        self._next_purge = now + self._interval
        expired = [pair for pair, expires_at in self._entries.items() if expires_at <= now]
        for pair in expired:
            del self._entries[pair]
        return len(expired)


class SqlReplayCache:
    """A replay cache in the ``replay_cache`` table, shared by every hub process using the database.

    The primary key ``(issuer, jti)`` decides: ``INSERT ... ON CONFLICT DO NOTHING`` inserts no row for a
    pair already present, in one statement, so two replicas racing on the same jti cannot both succeed.
    """

    def __init__(self, database: Database, *, purge_interval_s: float = 60.0, clock: Clock = _utc_now) -> None:
        self._dialect = database.engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise ConfigurationError("the replay cache supports PostgreSQL and SQLite")
        self._database = database
        self._interval = timedelta(seconds=purge_interval_s)
        self._clock = clock
        self._next_purge = clock() + self._interval

    async def remember(self, issuer: str, jti: str, expires_at: datetime) -> None:
        await self.purge_if_due()
        # One statement, committed by itself: one round trip on the request path.
        async with self._database.autocommit() as connection:
            await self.remember_within(connection, issuer, jti, expires_at)

    async def remember_within(self, connection: AsyncConnection, issuer: str, jti: str, expires_at: datetime) -> None:
        """:meth:`remember` in the caller's connection (which commits it); no purge."""
        # Both dialects spell the upsert the same way, with their own Insert construct.
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = (
            insert(ReplayEntry)
            .values(issuer=issuer, jti=jti, expires_at=_as_utc(expires_at))
            .on_conflict_do_nothing(index_elements=[ReplayEntry.issuer, ReplayEntry.jti])
        )
        if (await connection.execute(statement)).rowcount == 0:
            raise Replayed()

    async def purge_if_due(self) -> None:
        """Purge when ``purge_interval_s`` has passed since the last purge (for writers of their own rows)."""
        if self._clock() >= self._next_purge:
            await self.purge()

    async def purge(self) -> int:
        """Delete expired rows; returns how many."""
        now = _as_utc(self._clock())
        # Set before the delete, so that concurrent calls do not all purge at once.
        self._next_purge = now + self._interval
        async with self._database.autocommit() as connection:
            result = await connection.execute(delete(ReplayEntry).where(ReplayEntry.expires_at <= now))
        return result.rowcount


def _as_utc(moment: datetime) -> datetime:
    # SQLite stores the wall time without its offset: every stored time must be UTC to compare correctly.
    if moment.tzinfo is None:
        raise ValueError("replay cache times must be timezone-aware")
    return moment.astimezone(UTC)
