"""Which hub process evaluates the misuse rules: one at a time, so that every rule's window sees every entry.

With each replica evaluating the part of the log it happened to claim, a window spanning replicas was
counted apart, and a snooper spreading look-ups across replicas (or around a restart) stayed under every
threshold. One leader evaluates instead, and a process that becomes leader first rebuilds the windows from
the log (:meth:`gateway.misuse.service.MisuseDetection.run_once`).

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own, outside the
  request pool. The server releases it when that connection or its process dies, so another replica takes
  over within a round; the leader checks its connection every round and stands down if it is gone.
- SQLite: an exclusive ``flock`` on a file beside the database, released by the kernel when the process
  ends. (An in-memory database belongs to one process, which always leads.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.store import Database

# pg_try_advisory_lock's key: the first 8 bytes of SHA-256("hedui.misuse-detection") as a signed bigint, so
# that it cannot collide with another application's small integer keys on a shared server.
ADVISORY_LOCK_KEY = -0x78DF6D3A7089AD70


class LeaderLock(Protocol):
    async def hold(self) -> bool:
        """Whether this process leads now: keeps the lock if held and still valid, else tries to take it."""
        ...

    async def release(self) -> None:
        """Give the lock up (at shutdown); another process may take it at its next round."""
        ...


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock held on one long-lived connection (autocommit, so it never
    sits idle in a transaction)."""

    def __init__(self, url: str, key: int = ADVISORY_LOCK_KEY) -> None:
        self._engine = create_async_engine(url, poolclass=NullPool)
        self._key = key
        self._connection: AsyncConnection | None = None
        self._held = False

    async def hold(self) -> bool:
        try:
            if self._connection is None:
                connection = await self._engine.connect()
                self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            if self._held:
                await self._connection.exec_driver_sql("SELECT 1")  # still ours while the session lives
            else:
                taken = await self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
                self._held = bool(taken.scalar_one())
        except (SQLAlchemyError, OSError):
            # The connection is gone, and with it the lock: another replica may lead from now on.
            await self._drop()
            return False
        return self._held

    async def release(self) -> None:
        await self._drop()  # closing the session releases its advisory locks
        await self._engine.dispose()

    async def _drop(self) -> None:
        self._held = False
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await connection.close()


class FileLock:
    """SQLite: ``flock(LOCK_EX | LOCK_NB)`` on ``path``; held as long as the descriptor stays open."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._descriptor: int | None = None

    async def hold(self) -> bool:
        if self._descriptor is not None:
            return True
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    async def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # releases the flock


class SoleProcess:
    """An in-memory SQLite database: only its own process can see it, so it always leads."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def leader_lock(database: Database) -> LeaderLock:
    """The lock that elects the detecting process among those sharing ``database``."""
    if not database.is_sqlite:
        return AdvisoryLock(database.url)
    path = make_url(database.url).database
    if not path or path == ":memory:":
        return SoleProcess()
    return FileLock(Path(f"{path}.misuse-leader"))
