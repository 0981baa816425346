"""Synthetic people and members (tests/consent_kit.py), hub keys and a consent service on a migrated database
(SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.consent import ConsentService
from gateway.envelope import HubKeys, generate_member_jwks, load_jwks
from gateway.store import Database
from tests.consent_kit import ConsentKit
from tests.support import opened_audit_log

__all__ = ["ConsentKit"]  # the tests import the kit's type from here

HUB_ID = "CN/GOV/11100000MB0348916Y/hub"


@pytest.fixture
def kit() -> ConsentKit:
    return ConsentKit()


@pytest.fixture
def hub_keys() -> HubKeys:
    private, _ = generate_member_jwks()
    return HubKeys(load_jwks(private), storage_key=os.urandom(32), subject_pepper=os.urandom(32))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    yield opened
    await opened.dispose()


@pytest.fixture
async def audit(database: Database, hub_keys: HubKeys, tmp_path: Path) -> AsyncIterator[AuditLog]:
    """The log the service writes its entries to (a log key of its own)."""
    async with opened_audit_log(database, tmp_path / "log-key", HUB_ID, hub_keys.subject_pepper) as log:
        yield log


@pytest.fixture
def service(database: Database, hub_keys: HubKeys, audit: AuditLog) -> ConsentService:
    return ConsentService(database, hub_keys, hub_id=HUB_ID, audit=audit)
