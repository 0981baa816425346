"""The PostgreSQL leader lock (an advisory lock on a connection of its own): one holder per database; when
the holder's connection dies (its process killed, the server restarted), the holder stands down and another
process takes over at its next round."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.misuse.leader import ADVISORY_LOCK_KEY, AdvisoryLock

pytestmark = pytest.mark.postgres


async def test_one_holder_and_a_takeover_when_its_connection_dies(postgres_url: str) -> None:
    first, second = AdvisoryLock(postgres_url), AdvisoryLock(postgres_url)
    try:
        assert await first.hold()
        assert not await second.hold()
        assert await first.hold()
        engine = create_async_engine(postgres_url)
        try:
            async with engine.connect() as admin:
                killed = await admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND granted "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                        "AND ((classid::bigint << 32) | objid::bigint) = (:key)::bigint"
                    ),
                    {"key": ADVISORY_LOCK_KEY},
                )
                assert killed.scalars().all() == [True]
        finally:
            await engine.dispose()
        assert not await first.hold()  # its session is gone, and the lock with it
        assert await second.hold()
        assert not await first.hold()
    finally:
        await first.release()
        await second.release()
