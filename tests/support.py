"""Helpers shared by several test suites: a running sandbox, a real uvicorn server, raw HTTP exchanges, audit
counts, bounded polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from aiohttp import web
from sqlalchemy import event, func, select

from gateway.audit import AuditLog, LogKey, init_log_key, log_origin
from gateway.audit.models import AuditEntryRow
from gateway.sandbox import Sandbox
from gateway.store import Database, raw

BOUND_S = 60.0  # generous bound of every wait: the machine is shared


@contextlib.asynccontextmanager
async def running_sandbox(data_dir: Path, **options: Any) -> AsyncIterator[Sandbox]:
    """A started sandbox (hub and simulated agencies over HTTP on free ports), stopped on exit."""
    box = Sandbox(data_dir=data_dir, port=0, **options)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()


@contextlib.asynccontextmanager
async def serving(app: Any, http: str) -> AsyncIterator[int]:
    """A real uvicorn server of ``app`` with the ``http`` protocol on a free port; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serving_aiohttp(app: web.Application) -> AsyncIterator[str]:
    """A real aiohttp server of ``app`` on a free loopback port (a webhook receiver, an identity provider:
    a party outside the hub); yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def opened_audit_log(
    database: Database, key_dir: Path, hub_id: str, subject_pepper: bytes
) -> AsyncIterator[AuditLog]:
    """An audit log on ``database`` with a new log key in ``key_dir`` (hourly checkpoints), closed on exit."""
    init_log_key(key_dir)
    log = AuditLog(
        database,
        log_key=LogKey.load(key_dir, name=log_origin(hub_id)),
        subject_pepper=subject_pepper,
        checkpoint_interval_s=3600,
    )
    try:
        yield log
    finally:
        await log.aclose()


async def audit_count(database: Database, entry_type: str) -> int:
    """How many audit entries of ``entry_type`` the log holds."""
    async with database.engine.connect() as connection:
        statement = select(func.count()).select_from(AuditEntryRow).where(AuditEntryRow.entry_type == entry_type)
        return int((await connection.execute(statement)).scalar_one())


async def until(predicate: Callable[[], Awaitable[bool]], what: str, *, every_s: float = 0.05) -> None:
    """Poll ``predicate`` until it holds; fail after ``BOUND_S`` naming ``what`` was awaited."""
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


async def raw_exchange(host: str, port: int, *parts: bytes) -> tuple[int, dict[str, Any], int]:
    """Send ``parts`` over a plain socket while reading one answer with a Content-Length, as an HTTP client does:
    sending stops once the answer has come (or the server stops reading). Returns its status, its JSON body and
    how many bytes had been sent by then."""
    reader, writer = await asyncio.open_connection(host, port)
    sent = 0

    async def send() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            for part in parts:
                writer.write(part)
                await writer.drain()
                sent += len(part)

    sending = asyncio.create_task(send())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND_S)
        status_line, *fields = head.split(b"\r\n")
        length = next(int(f.split(b":")[1]) for f in fields if f.lower().startswith(b"content-length:"))
        body = await asyncio.wait_for(reader.readexactly(length), BOUND_S)
        return int(status_line.split()[1]), json.loads(body), sent
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


_DRIVER_STATEMENTS = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})


class Reporting:
    """Stands in for ``inner`` (an asyncpg connection or its protocol object) and reports each call of the
    methods ``names`` with its arguments before making it."""

    def __init__(self, inner: Any, names: frozenset[str], report: Callable[[str, tuple[Any, ...]], None]) -> None:
        self._inner = inner
        self._names = names
        self._report = report

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in self._names:
            return attribute

        def reported(*args: Any, **kwargs: Any) -> Any:
            self._report(name, args)
            return attribute(*args, **kwargs)

        return reported


@contextlib.contextmanager
def statements_sent(database: Database) -> Iterator[list[str]]:
    """The first word of each statement sent to ``database`` meanwhile, through SQLAlchemy or straight down a
    pooled asyncpg connection (gateway.store.raw) alike; transaction control and the audit log's statements
    (it may sign a checkpoint at any time) left out."""
    sent: list[str] = []

    def record(statement: str) -> None:
        word = statement.split()[0].upper()
        if "audit_" not in statement and word not in ("BEGIN", "COMMIT", "ROLLBACK"):
            sent.append(word)

    def through_sqlalchemy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        record(statement)

    original = raw.driver_connection

    async def recording_driver(connection: Any) -> Any:
        return Reporting(await original(connection), _DRIVER_STATEMENTS, lambda _name, args: record(args[0]))

    event.listen(database.engine.sync_engine, "before_cursor_execute", through_sqlalchemy)
    raw.driver_connection = recording_driver  # type: ignore[assignment]
    try:
        yield sent
    finally:
        raw.driver_connection = original  # type: ignore[assignment]
        event.remove(database.engine.sync_engine, "before_cursor_execute", through_sqlalchemy)
