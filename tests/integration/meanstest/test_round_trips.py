"""Issue 12: a verification's critical path makes at most three database round trips on PostgreSQL (the checks;
``verification.requested``; the report with ``verification.completed``) and opens no connection.

Counted at the driver: every asyncpg protocol call (prepare, bind-execute, simple query, COPY, ...) is one
round trip; the calls made by the verification's task and by the audit log's writer task (which commits its
entries) are the critical path's. A warm-up run first, so that statements are prepared and the first
checkpoint is signed (the next is an hour away)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.engine import make_url

from gateway.envelope import JtiClaim
from gateway.sandbox import Sandbox
from tests.conftest import ADMIN_URL, _admin
from tests.integration.helpers import sandbox_document, scenario_named, verification_request
from tests.support import Reporting, running_sandbox

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]

_ROUND_TRIPS = frozenset(
    {"prepare", "bind", "bind_execute", "bind_execute_many", "execute", "query", "copy_in", "copy_out"}
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    name = f"hedui_t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    settings = {
        "database_url": url,
        "db_pool_size": 2,
        "db_pool_overflow": 0,
        "audit_checkpoint_interval_s": 3600.0,
        "source_timeout_s": 2.0,
        "source_retries": 0,
    }
    try:
        async with running_sandbox(
            Path(tmp_path_factory.mktemp("sandbox")), households=10, hub_settings=settings
        ) as box:
            yield box
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_verification_makes_three_round_trips_and_opens_no_connection(sandbox: Sandbox) -> None:
    hub = sandbox.hub
    assert hub is not None
    item = scenario_named(sandbox, "clearly_eligible")
    member = await hub.members.get(sandbox_document(sandbox)["members"][item["member"]]["id"])
    counted: list[str] = []
    opened: list[object] = []
    watched: set[asyncio.Task[Any] | None] = set()

    def record(call: str) -> None:
        task = asyncio.current_task()
        if task in watched or task is hub.audit._writer:
            counted.append(call)

    def wrap(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        if not isinstance(driver._protocol, Reporting):  # each asyncpg protocol call is one round trip
            driver._protocol = Reporting(driver._protocol, _ROUND_TRIPS, lambda call, _args: record(call))

    def connected(*_: Any) -> None:
        opened.append(object())

    engine = hub.database.engine.sync_engine
    event.listen(engine, "checkout", wrap)
    event.listen(engine, "connect", connected)

    async def verify(number: int) -> dict[str, Any]:
        watched.add(asyncio.current_task())
        claim = JtiClaim(member.member_id, f"round-trips-{number}", datetime.now(UTC) + timedelta(minutes=6))
        digest = hashlib.sha256(f"round trips {number}".encode()).hexdigest()
        _, report = await hub.verifications.run(
            verification_request(item), member, request_digest=digest, jti_claim=claim
        )
        return report

    try:
        for warm_up in range(6):  # every pooled connection (two, taken in turn) prepares its statements
            await verify(warm_up)
        counted.clear()
        opened.clear()
        runs = 5
        for number in range(6, 6 + runs):
            report = await verify(number)
            assert report["status"] == "complete"
    finally:
        event.remove(engine, "checkout", wrap)
        event.remove(engine, "connect", connected)
    assert len(counted) <= 3 * runs, counted
    assert opened == []
