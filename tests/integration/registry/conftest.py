"""A registry on a freshly migrated database (SQLite and PostgreSQL), with its own hub keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.envelope import HubKeys, init_key_dir
from gateway.registry import RegistryService
from gateway.store import Database


@pytest.fixture
def keys(tmp_path: Path) -> HubKeys:
    return init_key_dir(tmp_path / "keys")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def registry(database: Database, keys: HubKeys) -> RegistryService:
    return RegistryService(database, keys)
