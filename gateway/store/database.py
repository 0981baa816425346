"""Engine and session factory, and schema migration through Alembic.

The embedded default is a SQLite file under ``./var``; production sets ``HEDUI_DATABASE_URL`` to a
``postgresql+asyncpg://`` URL. SQLite runs in WAL mode so the sandbox's readers do not block its writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from gateway.errors import StoreUnavailable

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """One async engine and its session factory; create one per process and share it."""

    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int | None = None) -> None:
        """``pool_size`` connections are kept open (PostgreSQL); up to ``max_overflow`` more (default as
        many) are opened under bursts and closed again, which costs a PostgreSQL backend fork each: size the
        pool to the load (``HEDUI_DB_POOL_SIZE``) so that steady state opens none."""
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            # No pre-ping: it costs a round trip per checkout (measured 1.5 ms of hub CPU per verification);
            # recycling bounds how stale a pooled connection can get, and a dead one fails the request cleanly.
            self.engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size if max_overflow is None else max_overflow,
                pool_recycle=1800,
            )
        self._pool_size = pool_size
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose database failures surface as :class:`StoreUnavailable`."""
        try:
            async with self.sessions() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreUnavailable("the database did not complete the operation") from exc

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction for a change that reads before it writes. On SQLite it holds the write
        lock from its start (``BEGIN IMMEDIATE``, waiting under busy_timeout), so the read and the write are one
        transaction no other process writes into: the driver begins a transaction only at the first write (the
        read would see a state another process may change before the write), and a deferred transaction that
        has read cannot take the lock once another process has committed (SQLITE_BUSY_SNAPSHOT). On PostgreSQL
        an ordinary transaction; row locks (``FOR UPDATE``) order writers."""
        async with self.session() as session, session.begin():
            if self.is_sqlite:
                await (await session.connection()).exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose every statement is its own transaction: one round trip for a single read (a
        check) or a single idempotent write (the replay cache's insert), where a session would add a BEGIN
        and a COMMIT or ROLLBACK round trip each. Failures surface as :class:`StoreUnavailable`."""
        try:
            async with self.engine.connect() as connection:
                yield await connection.execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise StoreUnavailable("the database did not complete the operation") from exc

    async def prewarm(self) -> int:
        """Open the pool's connections now (PostgreSQL), so the first requests do not pay for connecting;
        returns how many were opened. A database that is away is not an error here: requests will say."""
        if self.is_sqlite:
            return 0
        stack = contextlib.AsyncExitStack()
        opened = 0
        async with stack:
            for _ in range(self._pool_size):
                try:
                    await stack.enter_async_context(self.engine.connect())
                except (SQLAlchemyError, OSError):
                    break
                opened += 1
        return opened

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except (SQLAlchemyError, OSError):
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "heads") -> None:
    """Bring the schema at ``url`` up to ``revision`` (blocking; call at start-up or from the CLI)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        # WAL is a property of the file: set it once here, so that processes opening the database later
        # find it set, instead of racing to switch the journal mode (which needs the database to themselves).
        with contextlib.closing(sqlite3.connect(parsed.database)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


async def migrate_async(url: str, revision: str = "heads") -> None:
    """:func:`migrate` from inside a running event loop (Alembic's env runs its own loop)."""
    await asyncio.to_thread(migrate, url, revision)
