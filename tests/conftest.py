"""Fixtures shared by the whole suite: migrated databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gateway.store.database import migrate_async

# The PostgreSQL server on this machine and in CI (trust auth). Each test that needs it gets a database of
# its own, created from this one and dropped afterwards, so parallel runs never see each other's rows.
ADMIN_URL = os.environ.get("HEDUI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hedui.db'}"
    await migrate_async(url)
    return url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    name = f"hedui_t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await migrate_async(url)
        yield url
    finally:
        await asyncio.sleep(0)
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A freshly migrated database: each test using it runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")
