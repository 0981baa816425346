"""An audit log on a freshly migrated database (SQLite and PostgreSQL), with a hub key directory holding the
log key, and a factory of realistic entries."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.audit import AuditLog, LogKey, VerificationRequested, init_log_key, log_origin, subject_ref
from gateway.envelope import HubKeys, init_key_dir
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database

MIS = "CN/GOV/11100000MB0348916Y/dibao"
OTHER_MIS = "CN/GOV/11510502MB76543212/dibao-mis"
AUDITOR = "CN/GOV/11100000MB9876543F/audit"
# GB 11643-1999's example number and two more valid ones (check characters computed per ISO 7064 MOD 11-2).
PEOPLE = ("11010519491231002X", "110101199003071233", "440305198811220047")

EntryFactory = Callable[..., VerificationRequested]


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    init_key_dir(directory)
    init_log_key(directory)
    return directory


@pytest.fixture
def hub_keys(key_dir: Path) -> HubKeys:
    return HubKeys.load(key_dir)


@pytest.fixture
def log_key(key_dir: Path) -> LogKey:
    return LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def audit(database: Database, log_key: LogKey, hub_keys: HubKeys) -> AsyncIterator[AuditLog]:
    log = AuditLog(database, log_key=log_key, subject_pepper=hub_keys.subject_pepper, checkpoint_interval_s=3600)
    try:
        yield log
    finally:
        await log.aclose()


@pytest.fixture
def make_entry(hub_keys: HubKeys) -> EntryFactory:
    def make(
        number: int = 0,
        *,
        actor: str = MIS,
        people: tuple[str, ...] = PEOPLE[:1],
        purpose: str = "dibao.application",
        case_id: str | None = None,
    ) -> VerificationRequested:
        return VerificationRequested(
            actor=actor,
            operator=f"staff-{number % 7}",
            verification_id=str(uuid.uuid4()),
            case_id=case_id or f"110101-2026-{number:06d}",
            purpose=purpose,
            region="110101",
            subject_refs=[subject_ref(hub_keys.subject_pepper, person) for person in people],
            categories=["hukou", "tax"],
            request_digest=hashlib.sha256(f"request {number}".encode()).hexdigest(),
        )

    return make
