"""Replay caches: one conformance suite for every implementation (MemoryReplayCache, SqlReplayCache on SQLite
and PostgreSQL), then what only a shared database can show: several hub processes see each other's jtis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from joserfc.jwk import KeySet

from gateway.envelope import (
    MemoryReplayCache,
    OpenedMessage,
    SqlReplayCache,
    StaticKeyResolver,
    generate_member_jwks,
    open_envelope,
    private_encryption_key,
    private_signing_key,
    seal,
)
from gateway.errors import Replayed
from gateway.store import Database


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


Cache = MemoryReplayCache | SqlReplayCache
CacheFactory = Callable[[FakeClock], Awaitable[Cache]]


class ReplayCacheConformance:
    """What every ReplayCache must do. Subclasses provide ``make_cache``."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    async def test_first_use_passes_and_second_is_a_replay(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        until = clock.now + timedelta(minutes=6)

        await cache.remember("CN/GOV/A/mis", "0b7f6c1e-0000-4000-8000-000000000001", until)

        with pytest.raises(Replayed):
            await cache.remember("CN/GOV/A/mis", "0b7f6c1e-0000-4000-8000-000000000001", until)

    async def test_jtis_are_per_issuer(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        until = clock.now + timedelta(minutes=6)

        await cache.remember("CN/GOV/A/mis", "jti-1", until)
        await cache.remember("CN/GOV/B/mis", "jti-1", until)
        await cache.remember("CN/GOV/A/mis", "jti-2", until)

    async def test_concurrent_uses_let_exactly_one_through(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        until = clock.now + timedelta(minutes=6)

        outcomes = await asyncio.gather(
            *(cache.remember("CN/GOV/A/mis", "raced", until) for _ in range(8)), return_exceptions=True
        )

        assert sum(outcome is None for outcome in outcomes) == 1
        assert sum(isinstance(outcome, Replayed) for outcome in outcomes) == 7

    async def test_a_stored_jti_stays_a_replay_until_purged(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        await cache.remember("CN/GOV/A/mis", "short-lived", clock.now + timedelta(seconds=10))
        clock.advance(30)  # expired, but the purge interval (60 s) has not passed: no purge on this call

        with pytest.raises(Replayed):
            await cache.remember("CN/GOV/A/mis", "short-lived", clock.now + timedelta(seconds=10))

    async def test_jtis_compare_as_exact_strings(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        """docs/decisions.md: a jti is an opaque, case-sensitive string (RFC 7519 §4.1.7); the cache never
        normalises it, so variants of one UUID are different jtis and only the identical string is a replay."""
        cache = await make_cache(clock)
        until = clock.now + timedelta(minutes=6)
        lower = "0b7f6c1e-aaaa-4000-8000-00000000000a"
        for variant in (lower, lower.upper(), lower[:-1] + "A", "0B7F6C1E-aaaa-4000-8000-00000000000a"):
            await cache.remember("CN/GOV/A/mis", variant, until)
        for variant in (lower, lower.upper()):
            with pytest.raises(Replayed):
                await cache.remember("CN/GOV/A/mis", variant, until)

    async def test_a_jti_is_kept_until_the_time_given_whatever_the_purges(
        self, make_cache: CacheFactory, clock: FakeClock
    ) -> None:
        """Issue 11 #3: callers pass exp + skew, the last instant a verifier accepts the message; no purge
        before that instant forgets it."""
        cache = await make_cache(clock)
        await cache.remember("CN/GOV/A/mis", "kept", clock.now + timedelta(seconds=150))
        for _ in range(2):
            clock.advance(61)  # past the purge interval: each call purges first
            with pytest.raises(Replayed):
                await cache.remember("CN/GOV/A/mis", "kept", clock.now + timedelta(seconds=150))
        clock.advance(61)  # 183 s: past the time given
        await cache.remember("CN/GOV/A/mis", "kept", clock.now + timedelta(seconds=150))

    async def test_expired_jtis_are_purged_now_and_then(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        await cache.remember("CN/GOV/A/mis", "expires", clock.now + timedelta(seconds=10))
        await cache.remember("CN/GOV/A/mis", "lasts", clock.now + timedelta(seconds=300))
        clock.advance(61)

        # This call is past the purge interval: it purges first, so the expired pair is free again.
        await cache.remember("CN/GOV/A/mis", "expires", clock.now + timedelta(seconds=10))
        with pytest.raises(Replayed):
            await cache.remember("CN/GOV/A/mis", "lasts", clock.now + timedelta(seconds=300))

    async def test_purge_removes_only_expired_entries(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        for number in range(3):
            await cache.remember("CN/GOV/A/mis", f"old-{number}", clock.now + timedelta(seconds=5))
        await cache.remember("CN/GOV/A/mis", "current", clock.now + timedelta(seconds=500))
        clock.advance(10)

        assert await cache.purge() == 3
        assert await cache.purge() == 0
        with pytest.raises(Replayed):
            await cache.remember("CN/GOV/A/mis", "current", clock.now + timedelta(seconds=500))

    async def test_times_in_other_zones_compare_as_instants(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)
        beijing = timezone(timedelta(hours=8))
        # 16:00:05 in Beijing is 08:00:05 UTC: expired 55 s after the clock's 08:00 UTC start, a minute later.
        await cache.remember("CN/GOV/A/mis", "zoned", datetime(2026, 7, 1, 16, 0, 5, tzinfo=beijing))
        clock.advance(60)

        assert await cache.purge() == 1

    async def test_naive_times_are_refused(self, make_cache: CacheFactory, clock: FakeClock) -> None:
        cache = await make_cache(clock)

        with pytest.raises(ValueError, match="timezone"):
            await cache.remember("CN/GOV/A/mis", "naive", datetime(2026, 7, 1, 8, 5))


class TestMemoryReplayCache(ReplayCacheConformance):
    @pytest.fixture
    def make_cache(self) -> CacheFactory:
        async def _make(clock: FakeClock) -> Cache:
            return MemoryReplayCache(clock=clock)

        return _make


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


class TestSqlReplayCache(ReplayCacheConformance):
    @pytest.fixture
    def make_cache(self, database: Database) -> CacheFactory:
        async def _make(clock: FakeClock) -> Cache:
            return SqlReplayCache(database, clock=clock)

        return _make


# -- shared by several hub processes -------------------------------------------------------------------


@pytest.fixture
async def second_database(database_url: str) -> AsyncIterator[Database]:
    """Another engine on the same database: what a second hub replica holds."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_two_hub_processes_see_each_others_jtis(database: Database, second_database: Database) -> None:
    until = datetime.now(UTC) + timedelta(minutes=6)
    first, second = SqlReplayCache(database), SqlReplayCache(second_database)

    await first.remember("CN/GOV/A/mis", "seen-by-first", until)
    with pytest.raises(Replayed):
        await second.remember("CN/GOV/A/mis", "seen-by-first", until)

    await second.remember("CN/GOV/A/mis", "seen-by-second", until)
    with pytest.raises(Replayed):
        await first.remember("CN/GOV/A/mis", "seen-by-second", until)


async def test_an_envelope_replayed_to_another_replica_is_refused(
    database: Database, second_database: Database
) -> None:
    hub_private, _ = generate_member_jwks()
    mis_private, mis_public = generate_member_jwks()
    hub_id, mis_id = "CN/GOV/11100000000013127D/hub", "CN/GOV/11110105000000000M/dibao"
    sealed = seal(
        {"case_id": "110101-2026-000123"},
        issuer=mis_id,
        audience=hub_id,
        signing_key=private_signing_key(mis_private),
        recipient_key=private_encryption_key(hub_private),
    )

    async def open_on(replica: Database) -> object:
        return await open_envelope(
            sealed.token,
            decryption_keys=KeySet.import_key_set(hub_private),
            resolver=StaticKeyResolver({mis_id: mis_public}),
            audience=hub_id,
            replay=SqlReplayCache(replica),
        )

    await open_on(database)
    with pytest.raises(Replayed):
        await open_on(second_database)


async def test_an_envelope_replayed_past_exp_but_inside_the_skew_is_refused(database: Database) -> None:
    """Issue 11 #3: a message is accepted until exp + 60 s, so its jti must be remembered that long, even
    across a purge that runs after exp."""
    hub_private, _ = generate_member_jwks()
    mis_private, mis_public = generate_member_jwks()
    hub_id, mis_id = "CN/GOV/11100000000013127D/hub", "CN/GOV/11110105000000000M/dibao"
    sealed_at = datetime.now(UTC).timestamp()
    sealed = seal(
        {"case_id": "110101-2026-000124"},
        issuer=mis_id,
        audience=hub_id,
        signing_key=private_signing_key(mis_private),
        recipient_key=private_encryption_key(hub_private),
        now=sealed_at,
    )
    clock = FakeClock()
    cache = SqlReplayCache(database, clock=clock)

    async def open_at(moment: float) -> OpenedMessage:
        clock.now = datetime.fromtimestamp(moment, UTC)
        return await open_envelope(
            sealed.token,
            decryption_keys=KeySet.import_key_set(hub_private),
            resolver=StaticKeyResolver({mis_id: mis_public}),
            audience=hub_id,
            replay=cache,
            now=moment,
        )

    opened = await open_at(sealed_at + 1)
    assert opened.expires_at + 30 > sealed_at + 1 + 60  # the replay below comes after a purge
    with pytest.raises(Replayed):
        await open_at(opened.expires_at + 30)  # past exp, inside the skew
