"""Bulk row writes inside an open transaction, through the driver: on PostgreSQL by COPY, on SQLite by one
``executemany`` on the aiosqlite connection (one hop to its thread, where SQLAlchemy's cursor takes three)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.models import Base
from gateway.store.raw import driver_connection


async def insert_rows(
    connection: AsyncConnection, table: type[Base], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert rows within the connection's transaction. On PostgreSQL, by COPY (one round trip, binary rows,
    several times cheaper than INSERT for the server and for Python); on SQLite by one executemany of the
    values as SQLAlchemy would bind them (its column types' bind processors: the stored time format)."""
    if not rows:
        return
    driver = await driver_connection(connection)
    if connection.dialect.name == "postgresql":
        await driver.copy_records_to_table(table.__tablename__, records=rows, columns=columns)
        return
    quoted = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("?" for _ in columns)
    await driver.executemany(
        f'INSERT INTO "{table.__tablename__}" ({quoted}) VALUES ({marks})',  # noqa: S608 (table and column names)
        bound_rows(connection.dialect, table, columns, rows),
    )


def bound_rows(
    dialect: Dialect, table: type[Base], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """``rows`` as the driver must receive them: each value through its column type's bind processor."""
    processors: list[Callable[[Any], Any] | None] = [
        # The dialect's own type (sqlite.DATETIME's text format, say), as SQLAlchemy's statements bind it.
        table.__table__.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        for column in columns
    ]
    if not any(processors):
        return list(rows)
    return [
        tuple(value if process is None else process(value) for process, value in zip(processors, row, strict=True))
        for row in rows
    ]
