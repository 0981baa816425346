"""A registry on a freshly migrated database (SQLite and PostgreSQL), with its own hub keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.envelope import HubKeys, init_key_dir
from gateway.registry import RegistryService
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from tests.support import opened_audit_log


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
    async with opened_audit_log(database, tmp_path / "keys", DEFAULT_HUB_ID, keys.subject_pepper) as log:
        yield log


@pytest.fixture
def registry(database: Database, keys: HubKeys, audit: AuditLog) -> RegistryService:
    return RegistryService(database, keys, audit=audit)
