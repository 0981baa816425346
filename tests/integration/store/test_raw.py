"""The raw asyncpg connection of the hot path (gateway.store.raw): failures are StoreUnavailable like
SQLAlchemy's, and a connection that broke is not handed out again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.errors import StoreUnavailable
from gateway.store import Database
from gateway.store.raw import autocommit_driver

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    db = Database(postgres_url, pool_size=1, max_overflow=0)
    yield db
    await db.dispose()


async def test_each_statement_commits_by_itself(database: Database) -> None:
    async with autocommit_driver(database) as driver:
        await driver.execute("CREATE TABLE raw_probe (x int)")
        await driver.execute("INSERT INTO raw_probe VALUES (1)")
    async with database.autocommit() as connection:  # another connection would not see an open transaction
        assert (await connection.exec_driver_sql("SELECT count(*) FROM raw_probe")).scalar_one() == 1


async def test_a_failed_statement_is_store_unavailable_and_the_connection_serves_on(database: Database) -> None:
    async with autocommit_driver(database) as driver:
        pid = await driver.fetchval("SELECT pg_backend_pid()")
    with pytest.raises(StoreUnavailable):
        async with autocommit_driver(database) as driver:
            await driver.execute("SELECT * FROM no_such_table")
    async with autocommit_driver(database) as driver:
        assert await driver.fetchval("SELECT pg_backend_pid()") == pid


async def test_a_broken_connection_is_discarded(database: Database) -> None:
    async with autocommit_driver(database) as driver:
        pid = await driver.fetchval("SELECT pg_backend_pid()")
    other = Database(database.url, pool_size=1)
    async with other.autocommit() as connection:  # waits until the backend has gone (PostgreSQL 14+)
        await connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)")
    await other.dispose()
    with pytest.raises(StoreUnavailable):
        async with autocommit_driver(database) as driver:
            await driver.fetchval("SELECT 1")
    async with autocommit_driver(database) as driver:  # a new connection, not the dead one
        assert await driver.fetchval("SELECT pg_backend_pid()") != pid
