"""Issue 11 #9: every state change writes its audit entry in the service, in the transaction of the change.

The test walks every public method of the services that hold state: each is classified as a read or as a
change with the entry it must write (a new method fails the classification until someone decides), each
change is run and its entry looked for, and each change is run again with the audit log failing inside
its transaction (a database trigger), after which the change must not have happened either.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from gateway.audit import AuditLog, LogKey, init_log_key, log_origin
from gateway.audit.models import AuditEntryRow
from gateway.consent import ConsentService
from gateway.consent.models import Consent
from gateway.envelope import HubKeys, init_key_dir
from gateway.errors import AuditUnavailable, StoreUnavailable
from gateway.meanstest.flow import VerificationService
from gateway.registry import EnrollmentCreate, EnrollmentEnd, RegistryService
from gateway.registry.models import Enrollment
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from tests.consent_kit import ConsentKit

# Every public coroutine method of a service holding state: the entry type each change writes, or None for
# a read. Verification changes are exercised over the whole flow in tests/integration/meanstest/test_flow.py.
CLASSIFIED: dict[type, dict[str, str | None]] = {
    ConsentService: {"register": "consent.granted", "revoke": "consent.revoked", "check": None, "search": None},
    RegistryService: {
        "record": "registry.enrollment",
        "end": "registry.enrollment",
        "load": "registry.enrollment",
        "search": None,
        "check_duplicates": None,
        "check_for_purpose": None,
    },
    VerificationService: {
        "run": "verification.requested",
        "verify": "verification.requested",
        "close_abandoned": "verification.abandoned",
        "report": None,
        "stored_report": None,
        "match": None,
    },
}


def test_every_public_method_of_a_stateful_service_is_classified() -> None:
    for service, methods in CLASSIFIED.items():
        public = {name for name, _ in inspect.getmembers(service, inspect.iscoroutinefunction) if name[0] != "_"}
        assert public == set(methods), service.__name__


class Services:
    def __init__(self, database: Database, audit: AuditLog, keys: HubKeys) -> None:
        self.database, self.audit = database, audit
        self.consents = ConsentService(database, keys, hub_id=DEFAULT_HUB_ID, audit=audit)
        self.registry = RegistryService(database, keys, audit=audit)
        self.kit = ConsentKit()

    async def entries(self) -> list[dict[str, Any]]:
        async with self.database.session() as session:
            return [json.loads(row) for row in await session.scalars(select(AuditEntryRow.entry))]

    async def rows(self) -> tuple[int, int, int]:
        """How many consents, revoked consents and ended enrollments the database holds."""
        async with self.database.session() as session:
            consents = await session.scalar(select(func.count()).select_from(Consent))
            revoked = await session.scalar(select(func.count()).where(Consent.status == "revoked"))
            ended = await session.scalar(select(func.count()).where(Enrollment.end_date.is_not(None)))
        return int(consents or 0), int(revoked or 0), int(ended or 0)


@pytest.fixture
async def services(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Services]:
    keys = init_key_dir(tmp_path / "keys")
    init_log_key(tmp_path / "keys")
    database = Database(sqlite_url)
    audit = AuditLog(
        database,
        log_key=LogKey.load(tmp_path / "keys", name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=keys.subject_pepper,
        checkpoint_interval_s=3600,
    )
    try:
        yield Services(database, audit, keys)
    finally:
        await audit.aclose()
        await database.dispose()


def enrollment(kit: ConsentKit, sequence: int) -> EnrollmentCreate:
    return EnrollmentCreate.model_validate(
        {
            "id_number": kit.id_number(40, sequence),
            "programme": "dibao",
            "region": "110101",
            "start": (date.today() - timedelta(days=30)).isoformat(),
            "monthly_amount": "780.00",
        }
    )


def changes(services: Services) -> list[tuple[str, str, Callable[[int], Awaitable[Any]]]]:
    """(method, entry type, a call of it for the n-th time) for every change of CLASSIFIED we run here."""
    kit, consents, registry = services.kit, services.consents, services.registry

    async def register(n: int) -> Any:
        return await consents.register(
            [kit.registration(id_number=kit.id_number(30, n), evidence={"sha256": f"{n:064x}", "ref": "form"})],
            controller=kit.mis_member,
        )

    async def revoke(n: int) -> Any:
        consent_id = (await register(100 + n))[0].consent_id
        return await consents.revoke(consent_id, reason="withdrawn", by=kit.mis_member)

    async def record(n: int) -> Any:
        return await registry.record(enrollment(kit, n), member_id=kit.mis, member_region="110101")

    async def end(n: int) -> Any:
        view = await record(200 + n)
        return await registry.end(view.enrollment_id, EnrollmentEnd(end=date.today()), member_id=kit.mis)

    async def load(n: int) -> Any:
        return await registry.load([(kit.mis, enrollment(kit, 300 + n))])

    return [
        ("register", "consent.granted", register),
        ("revoke", "consent.revoked", revoke),
        ("record", "registry.enrollment", record),
        ("end", "registry.enrollment", end),
        ("load", "registry.enrollment", load),
    ]


async def test_every_change_writes_its_entry_in_its_transaction(services: Services) -> None:
    expected = {(name, kind) for methods in list(CLASSIFIED.values())[:2] for name, kind in methods.items() if kind}
    assert {(name, kind) for name, kind, _ in changes(services)} == expected
    for n, (name, kind, call) in enumerate(changes(services)):
        before = await services.entries()
        result = await call(n)
        written = (await services.entries())[len(before) :]
        assert kind in [entry["type"] for entry in written], name
        last = written[-1]
        assert last["type"] == kind and last["actor"] == services.kit.mis, name
        if name == "end":
            assert last["outcome"] == "ended" and last["enrollment_id"] == result.enrollment_id

    # Now the log fails inside each transaction: the change must not happen either.
    async with services.database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_entries "
                "BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END"
            )
        )
    rows = await services.rows()
    entries = len(await services.entries())
    for n, (name, _, call) in enumerate(changes(services), start=10):
        with pytest.raises((AuditUnavailable, StoreUnavailable)):
            await call(n)
        assert await services.rows() == rows, name
        assert len(await services.entries()) == entries, name
