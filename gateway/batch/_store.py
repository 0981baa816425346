"""Transactions of the batch tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import StoreUnavailable
from gateway.store import Database


@asynccontextmanager
async def write_transaction(database: Database) -> AsyncIterator[AsyncConnection]:
    """A transaction that holds the write lock from its start on SQLite (``BEGIN IMMEDIATE``, waiting under
    busy_timeout), so that one which reads before it writes cannot fail with SQLITE_BUSY_SNAPSHOT when another
    process commits meanwhile; an ordinary transaction on PostgreSQL. Failures are :class:`StoreUnavailable`."""
    try:
        async with database.engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection
    except SQLAlchemyError as exc:
        raise StoreUnavailable("the database did not complete the operation") from exc


@asynccontextmanager
async def read_connection(database: Database) -> AsyncIterator[AsyncConnection]:
    try:
        async with database.engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StoreUnavailable("the database did not complete the operation") from exc
