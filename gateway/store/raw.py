"""The asyncpg connection under a pooled SQLAlchemy connection: for the hot path's statements that SQLAlchemy
would cost more hub CPU than the database (about 0.5 ms a statement against 0.12 ms for one asyncpg round
trip, docs/performance.md). Statements run through it are prepared once per connection (asyncpg's
statement cache); the connection stays in SQLAlchemy's pool, so the pool's size bounds both."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import StoreUnavailable
from gateway.store.database import Database

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    sqlite3.Error,
)
"""What a statement run on the driver directly raises where SQLAlchemy would raise its ``SQLAlchemyError``."""


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection of ``connection`` (PostgreSQL only), in whatever transaction state it has: an
    ``autocommit()`` connection runs each statement as its own transaction, a ``begin()`` one inside it."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a connection checked out of the pool holds its asyncpg connection
    return driver


@asynccontextmanager
async def autocommit_driver(database: Database) -> AsyncIterator[Any]:
    """A pooled asyncpg connection on which every statement is its own transaction (one round trip each).
    Failures surface as :class:`StoreUnavailable`, as through SQLAlchemy; a connection that failed below
    SQL (closed, broken, or left mid-operation by one: asyncpg's ``InternalClientError``) is discarded
    instead of going back to the pool."""
    async with database.autocommit() as connection:
        try:
            yield await driver_connection(connection)
        except asyncpg.PostgresError as exc:
            raise StoreUnavailable("the database did not complete the operation") from exc
        except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as exc:
            await connection.invalidate()
            raise StoreUnavailable("the database did not complete the operation") from exc
