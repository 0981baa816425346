"""The database misbehaving under a real hub process (uvicorn, PostgreSQL, the simulated agencies in their
own process): connections killed mid-load (``pg_terminate_backend``) and the database refusing connections.
Every answer is 201 or 503 (never another 5xx), no report is stored without its ``verification.completed``
entry, and the audit log verifies afterwards."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench._paths import HubPath, HubRefused
from bench._population import bench_households
from bench._stack import AgencyProcess, HubProcess, HubSetup, free_ports, prepare_hub
from gateway.audit import LogKey, log_origin, verify_log
from gateway.audit.models import AuditEntryRow
from gateway.store import Database
from gateway.store.models import Verification
from tests.conftest import ADMIN_URL, _asyncpg_dsn
from tests.faults.conftest import ROWS

pytestmark = pytest.mark.postgres

HOUSEHOLDS = 30
BOUND_S = 60.0  # generous bound of every wait: the machine is shared


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(ADMIN_URL))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _database_name(url: str) -> str:
    return str(make_url(url).database)


async def _kill_connections(url: str) -> None:
    await _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{_database_name(url)}' AND pid <> pg_backend_pid()"
    )


@pytest.fixture
async def hub(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[HubPath, HubSetup]]:
    as_of = date.today()
    agencies = await AgencyProcess.start(HOUSEHOLDS, as_of)
    try:
        households = bench_households(HOUSEHOLDS, as_of)
        setup = await prepare_hub(tmp_path, postgres_url, agencies.urls, households)
        setup.settings_env["HEDUI_DB_POOL_SIZE"] = "8"  # light on the PostgreSQL server other suites share
        port = free_ports(1)[0]
        process = await HubProcess.start(setup, port=port, public_url=f"http://127.0.0.1:{port}")
        path = HubPath(setup, [process.base_url], households)
        try:
            await path.authorize()
            yield path, setup
        finally:
            await path.aclose()
            await process.stop()
    finally:
        await agencies.stop()


async def _call(path: HubPath, index: int, statuses: Counter[int]) -> None:
    try:
        await path.call(index)
        statuses[201] += 1
    except HubRefused as refused:
        statuses[refused.status] += 1
    except aiohttp.ClientError:
        statuses[0] += 1  # no HTTP answer at all


async def _unaudited_reports(url: str) -> int:
    """Stored reports whose verification has no ``verification.completed`` / ``abandoned`` entry."""
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            stored = set(
                (
                    await connection.execute(
                        select(Verification.verification_id).where(Verification.report_sealed.is_not(None))
                    )
                ).scalars()
            )
            closing = (
                await connection.execute(
                    select(AuditEntryRow.entry).where(
                        AuditEntryRow.entry_type.in_(["verification.completed", "verification.abandoned"])
                    )
                )
            ).scalars()
            closed = {json.loads(entry)["verification_id"] for entry in closing}
        return len(stored - closed)
    finally:
        await database.dispose()


async def _log_verifies(tmp_path: Path, setup: HubSetup, url: str) -> None:
    database = Database(url)
    try:
        key = LogKey.load(tmp_path / "keys", name=log_origin(setup.hub_id))
        await verify_log(database, key.verifier_key())
    finally:
        await database.dispose()


async def test_connections_killed_mid_load(hub: tuple[HubPath, HubSetup], postgres_url: str, tmp_path: Path) -> None:
    path, setup = hub
    requests, waves = 48, 4
    path.seal_requests(requests)
    statuses: Counter[int] = Counter()
    per_wave = requests // waves
    for wave in range(waves):
        calls = [
            asyncio.create_task(_call(path, index, statuses)) for index in range(wave * per_wave, (wave + 1) * per_wave)
        ]
        await asyncio.sleep(0)
        await _kill_connections(postgres_url)  # while the wave is in flight
        await asyncio.gather(*calls)
    unaudited = await _unaudited_reports(postgres_url)
    ROWS.append(
        (
            f"database connections killed mid-load: {requests} requests in {waves} waves,",
            f"answers {dict(sorted(statuses.items()))}, reports without completion: {unaudited}",
        )
    )
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[201] > 0
    assert unaudited == 0
    await _log_verifies(tmp_path, setup, postgres_url)


async def test_the_database_refusing_connections_is_503_until_it_is_back(
    hub: tuple[HubPath, HubSetup], postgres_url: str, tmp_path: Path
) -> None:
    path, setup = hub
    name = _database_name(postgres_url)
    path.seal_requests(24)
    statuses: Counter[int] = Counter()
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        await _kill_connections(postgres_url)
        await asyncio.gather(*(_call(path, index, statuses) for index in range(8)))
        async with aiohttp.ClientSession() as session:
            base = path._base_urls[0]
            async with session.get(f"{base}/readyz") as response:
                ready_while_away = response.status
    finally:
        await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    refused_while_away = dict(statuses)
    # Back: the hub serves again without a restart (polled with a generous bound).
    deadline, index = time.monotonic() + BOUND_S, 8
    while statuses[201] == 0 and index < 24 and time.monotonic() < deadline:
        await _call(path, index, statuses)
        index += 1
    unaudited = await _unaudited_reports(postgres_url)
    ROWS.append(
        (
            f"database refusing connections: answers while away {refused_while_away}, /readyz {ready_while_away},",
            f"after it is back {dict(sorted(statuses.items()))}, reports without completion: {unaudited}",
        )
    )
    assert set(refused_while_away) == {503}, refused_while_away
    assert ready_while_away == 503
    assert statuses[201] >= 1, "the hub serves again once the database is back"
    assert set(statuses) <= {201, 503}
    assert unaudited == 0
    await _log_verifies(tmp_path, setup, postgres_url)
