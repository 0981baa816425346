"""A registry on a freshly migrated database (SQLite and PostgreSQL), with its own hub keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit import AuditLog, LogKey, init_log_key, log_origin
from gateway.envelope import HubKeys, init_key_dir
from gateway.registry import RegistryService
from gateway.settings import DEFAULT_HUB_ID
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
async def audit(database: Database, keys: HubKeys, tmp_path: Path) -> AsyncIterator[AuditLog]:
    """The log the registry writes its entries to."""
    init_log_key(tmp_path / "keys")
    log = AuditLog(
        database,
        log_key=LogKey.load(tmp_path / "keys", name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=keys.subject_pepper,
        checkpoint_interval_s=3600,
    )
    yield log
    await log.aclose()


@pytest.fixture
def registry(database: Database, keys: HubKeys, audit: AuditLog) -> RegistryService:
    return RegistryService(database, keys, audit=audit)
