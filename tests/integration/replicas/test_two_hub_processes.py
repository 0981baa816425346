"""Two hub processes (uvicorn, as operators run them) on one PostgreSQL database, with the simulated agencies
in a process of their own (docs/architecture.md §10): an envelope accepted by one is a replay at the other,
a consent revoked anywhere stops both at once, and their concurrent verifications make one gap-free,
verifiable log in which every stored report has its ``verification.completed`` entry."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench._paths import HubPath, HubRefused
from bench._population import bench_households
from bench._stack import AgencyProcess, HubProcess, HubSetup, free_ports, prepare_hub
from gateway.audit import AuditLog, LogKey, log_origin, verify_log
from gateway.audit.models import AuditEntryRow
from gateway.consent import ConsentService
from gateway.members import MemberRegistry
from gateway.store import Database
from gateway.store.models import Verification
from tests.conftest import ADMIN_URL, _admin

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]

HOUSEHOLDS = 30


@dataclass
class Replicas:
    setup: HubSetup
    first: HubPath
    second: HubPath
    database_url: str
    key_dir: Path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the module (the processes are started once for all its tests)."""
    name = f"hedui_t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def replicas(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> AsyncIterator[Replicas]:
    tmp_path, postgres_url = tmp_path_factory.mktemp("replicas"), postgres_database
    as_of = date.today()
    agencies = await AgencyProcess.start(HOUSEHOLDS, as_of)
    try:
        households = bench_households(HOUSEHOLDS, as_of)
        setup = await prepare_hub(tmp_path, postgres_url, agencies.urls, households)
        # A small pool each: the PostgreSQL server is shared with the rest of the suite.
        setup.settings_env["HEDUI_DB_POOL_SIZE"] = "4"
        ports = free_ports(2)
        # One issuer for both, as behind a load balancer: a token of one is good at the other.
        public_url = f"http://127.0.0.1:{ports[0]}"
        processes = await asyncio.gather(*(HubProcess.start(setup, port=p, public_url=public_url) for p in ports))
        paths = [HubPath(setup, [process.base_url], households) for process in processes]
        try:
            for path in paths:
                await path.authorize()
            yield Replicas(setup, paths[0], paths[1], postgres_url, tmp_path / "keys")
        finally:
            for path in paths:
                await path.aclose()
            await asyncio.gather(*(process.stop() for process in processes))
    finally:
        await agencies.stop()


async def test_an_envelope_accepted_by_one_process_is_a_replay_at_the_other(replicas: Replicas) -> None:
    replicas.first.seal_requests(1)
    await replicas.first.call(0)
    token = replicas.first._sealed[0].token
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{replicas.second._base_urls[0]}/v1/verifications",
            data=token,
            headers=replicas.first._headers,
        ) as response,
    ):
        problem = json.loads(await response.read())
    assert (response.status, problem["code"]) == (409, "replayed")


async def test_concurrent_verifications_on_both_make_one_verifiable_log(replicas: Replicas) -> None:
    for path in (replicas.first, replicas.second):
        path.seal_requests(24)
    await asyncio.gather(*(path.call(index) for path in (replicas.first, replicas.second) for index in range(24)))
    database = Database(replicas.database_url)
    try:
        key = LogKey.load(replicas.key_dir, name=log_origin(replicas.setup.hub_id))
        report = await verify_log(database, key.verifier_key())
        async with database.session() as session:
            stored = await session.scalar(
                select(func.count()).select_from(Verification).where(Verification.report_sealed.is_not(None))
            )
            completed = await session.scalar(
                select(func.count()).where(AuditEntryRow.entry_type == "verification.completed")
            )
            entries = await session.scalar(select(func.count()).select_from(AuditEntryRow))
    finally:
        await database.dispose()
    assert stored == completed >= 48  # with the other tests' verifications
    assert report.tree_size == entries  # gap-free, and every leaf is in the verified tree


async def test_a_revocation_stops_both_processes_at_once(replicas: Replicas) -> None:
    households = bench_households(HOUSEHOLDS, date.today())
    paths = (replicas.first, replicas.second)
    database = Database(replicas.database_url)
    audit = AuditLog(
        database,
        log_key=LogKey.load(replicas.key_dir, name=log_origin(replicas.setup.hub_id)),
        subject_pepper=replicas.setup.keys.subject_pepper,
    )
    try:
        # The households the next request of each process asks about (request i: household offset + i).
        upcoming = {path: (path._offset + len(path._sealed)) % len(households) for path in paths}
        mis = await MemberRegistry(database).get(replicas.setup.member_id)
        consents = ConsentService(database, replicas.setup.keys, hub_id=replicas.setup.hub_id, audit=audit)
        for index in set(upcoming.values()):
            for person in households[index].members:
                for view in await consents.search(person.id_number, member=mis):
                    if view.status == "active":
                        await consents.revoke(view.consent_id, reason="withdrawn", by=mis)
    finally:
        await audit.aclose()
        await database.dispose()
    for path in paths:  # both have served these households before (the earlier tests)
        path.seal_requests(1)
        with pytest.raises(HubRefused) as refused:
            await path.call(0)
        assert (refused.value.status, refused.value.code) == (403, "consent_revoked")
