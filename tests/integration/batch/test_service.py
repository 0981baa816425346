"""BatchService against a real database and queue, without HTTP: intake while the queue is down."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit import AuditLog, LogKey
from gateway.auth import Caller, PurposeCatalog
from gateway.batch import BatchService, DatabaseQueue, NatsQueue
from gateway.batch.queue import WorkQueue
from gateway.broker.quota import AgencyQuota, MemoryQuotaLimiter, Priority
from gateway.contracts import CONTRACTS_DIR
from gateway.envelope import HubKeys
from gateway.keydir import init_hub_key_dir
from gateway.members import MemberRegistry
from gateway.store import Database

NATS_URL = os.environ.get("HEDUI_TEST_NATS_URL", "nats://127.0.0.1:4222")
MIS = "CN/GOV/11110101MB12345677/dibao-mis"
CALLER = Caller(member_id=MIS, role="local_mis", region="110101", scopes=frozenset({"verify"}))
ITEM = {
    "case_id": "110101-svc-0001",
    "region": "110101",
    "operator": "staff-0001",
    "household": [{"id_number": "11010519491231002X", "name": "x", "relation": "self"}],
}


@pytest.fixture
async def parts(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[Database, HubKeys, AuditLog]]:
    keys = init_hub_key_dir(tmp_path / "keys")
    database = Database(sqlite_url)
    audit = AuditLog(
        database, log_key=LogKey.load(tmp_path / "keys", name="hub.example/audit"), subject_pepper=keys.subject_pepper
    )
    try:
        yield database, keys, audit
    finally:
        await audit.aclose()
        await database.dispose()


def service(parts: tuple[Database, HubKeys, AuditLog], queue: WorkQueue) -> BatchService:
    database, keys, audit = parts
    return BatchService(
        database=database,
        keys=lambda: keys,
        audit=audit,
        members=MemberRegistry(database),
        purposes=PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"),
        verifications=None,  # type: ignore[arg-type]  # intake and publishing only: nothing is verified here
        queue=queue,
    )


async def test_a_batch_taken_while_the_queue_is_down_is_published_later(
    parts: tuple[Database, HubKeys, AuditLog],
) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    down = await NatsQueue.connect(NATS_URL, name=name)
    await down.aclose()  # the connection is gone: every publish fails
    items = [{**ITEM, "case_id": f"110101-svc-{i:04d}"} for i in range(3)]

    created = await service(parts, down).create(
        CALLER, {"batch_ref": "while-down", "purpose": "dibao.review", "items": items}
    )

    assert created["counts"]["queued"] == 3  # accepted and stored, not yet on the queue
    up = await NatsQueue.connect(NATS_URL, name=name)
    try:
        assert await service(parts, up).publish_pending(older_than_s=0) == 3
        assert await service(parts, up).publish_pending(older_than_s=0) == 0  # marked published
        deliveries = await up.receive(10, wait_s=2.0)
        assert sorted(d.payload for d in deliveries) == [f"{created['batch_id']}:{i}" for i in range(3)]
    finally:
        await up.delete_streams()
        await up.aclose()


async def test_status_shows_each_agency_quota_in_use(parts: tuple[Database, HubKeys, AuditLog]) -> None:
    database, keys, audit = parts
    quotas = {"tax": AgencyQuota(rate_per_s=2.0, concurrency=4)}
    limiter = MemoryQuotaLimiter(quotas)
    batches = BatchService(
        database=database,
        keys=lambda: keys,
        audit=audit,
        members=MemberRegistry(database),
        purposes=PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"),
        verifications=None,  # type: ignore[arg-type]  # status only
        queue=DatabaseQueue(database, name=f"t_{uuid.uuid4().hex[:12]}"),
        quotas=quotas,
        limiter=limiter,
    )
    created = await batches.create(CALLER, {"batch_ref": "quota", "purpose": "dibao.review", "items": [ITEM]})
    assert created["throttling"]["tax"] == {
        "rate_per_s": 2.0,
        "concurrency": 4,
        "in_window": 0,
        "in_flight": 0,
        "interactive_waiting": 0,
        "saturated": False,
    }

    async with await limiter.acquire("tax", Priority.BATCH):
        during = (await batches.status(CALLER, created["batch_id"]))["throttling"]["tax"]
    after = (await batches.status(CALLER, created["batch_id"]))["throttling"]["tax"]

    assert (during["in_flight"], during["saturated"]) == (1, True)  # the batch's share of the window is used
    assert after["in_flight"] == 0
