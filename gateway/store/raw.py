"""The asyncpg connection under a pooled SQLAlchemy connection: for the hot path's statements that SQLAlchemy
would cost more hub CPU than the database (about 0.5 ms a statement against 0.12 ms for one asyncpg round
trip, docs/performance.md). Statements run through it are prepared once per connection (asyncpg's
statement cache); the connection stays in SQLAlchemy's pool, so the pool's size bounds both."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection of ``connection`` (PostgreSQL only), in whatever transaction state it has: an
    ``autocommit()`` connection runs each statement as its own transaction, a ``begin()`` one inside it."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a connection checked out of the pool holds its asyncpg connection
    return driver
