"""kill -9 of the hub mid-load, then a restart: the restarted hub closes every verification the dead process
left open (``verification.abandoned``), no report is readable without its ``verification.completed`` entry,
``hedui audit verify`` passes, and verifications go on being served."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bench._paths import HubPath, HubRefused
from bench._population import bench_households
from bench._stack import AgencyProcess, HubProcess, free_ports, prepare_hub
from gateway.audit.models import AuditEntryRow
from gateway.store import Database
from tests.faults.conftest import ROWS
from tests.faults.test_database_faults import _unaudited_reports
from tests.support import BOUND_S, audit_count, until

pytestmark = pytest.mark.postgres

HOUSEHOLDS = 30
IN_FLIGHT = 10
AGENCY_LATENCY_MS = 1500.0  # every verification is still at the agencies when the hub is killed
HEDUI = str(Path(sys.executable).parent / "hedui")


async def _entries(database: Database, entry_type: str) -> list[dict[str, object]]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(AuditEntryRow.entry).where(AuditEntryRow.entry_type == entry_type))
        return [json.loads(entry) for entry in rows.scalars()]


async def _call(path: HubPath, index: int, outcomes: Counter[str], *, retries_on_503: int = 0) -> None:
    """One verification; a 503 (the hub's "try again": its database pool busy on a loaded machine) is asked
    again with a fresh envelope up to ``retries_on_503`` times, and counted apart from the outcome."""
    for attempt in range(retries_on_503 + 1):
        try:
            await path.call(index)
            outcomes["201"] += 1
        except HubRefused as refused:
            if refused.status == 503 and attempt < retries_on_503:
                outcomes["503 then asked again"] += 1
                path.reseal(index)
                await asyncio.sleep(0.2)
                continue
            outcomes[str(refused.status)] += 1
        except aiohttp.ClientError:
            outcomes["connection lost"] += 1  # the hub was killed while this request was in flight
        return


async def test_kill_9_mid_load_then_restart(tmp_path: Path, postgres_url: str) -> None:
    as_of = date.today()
    agencies = await AgencyProcess.start(HOUSEHOLDS, as_of)
    database = Database(postgres_url)
    try:
        households = bench_households(HOUSEHOLDS, as_of)
        setup = await prepare_hub(tmp_path, postgres_url, agencies.urls, households)
        # A short abandonment bound, so that the restarted hub closes the dead process's verifications now.
        setup.settings_env["HEDUI_VERIFICATION_ABANDON_AFTER_S"] = "2"
        setup.settings_env["HEDUI_DB_POOL_SIZE"] = "8"  # light on the PostgreSQL server other suites share
        port = free_ports(1)[0]
        public_url = f"http://127.0.0.1:{port}"
        hub = await HubProcess.start(setup, port=port, public_url=public_url)
        path = HubPath(setup, [public_url], households)
        outcomes: Counter[str] = Counter()
        try:
            await path.authorize()
            path.seal_requests(2)
            await asyncio.gather(*(_call(path, i, outcomes, retries_on_503=5) for i in range(2)))  # before the crash
            await agencies.set_latency(AGENCY_LATENCY_MS)
            path.seal_requests(IN_FLIGHT)
            calls = [asyncio.create_task(_call(path, i, outcomes)) for i in range(IN_FLIGHT)]

            async def all_requested() -> bool:
                return await audit_count(database, "verification.requested") == 2 + IN_FLIGHT

            await until(all_requested, "every verification to be at the agencies")
            os.kill(hub.pid, signal.SIGKILL)
            await asyncio.gather(*calls)
            await hub.stop()
            await agencies.set_latency(0)

            restarted = await HubProcess.start(setup, port=port, public_url=public_url)
            try:
                requested = {
                    str(entry["verification_id"]) for entry in await _entries(database, "verification.requested")
                }

                async def all_closed() -> bool:
                    closed = {
                        str(entry["verification_id"])
                        for kind in ("verification.completed", "verification.abandoned")
                        for entry in await _entries(database, kind)
                    }
                    return requested <= closed

                await until(all_closed, "every verification to be completed or abandoned")
                await path.authorize()
                path.seal_requests(2)
                await asyncio.gather(*(_call(path, i, outcomes, retries_on_503=5) for i in range(2)))  # restarted
            finally:
                await restarted.stop()
        finally:
            await path.aclose()
        abandoned = await audit_count(database, "verification.abandoned")
        unaudited = await _unaudited_reports(postgres_url)
        verify = await asyncio.create_subprocess_exec(
            HEDUI,
            "audit",
            "verify",
            env={**os.environ, **setup.settings_env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(verify.communicate(), BOUND_S)
        ROWS.append(
            (
                f"hub kill -9 mid-load: {IN_FLIGHT} verifications in flight, answers {dict(sorted(outcomes.items()))},",
                f"abandoned after restart: {abandoned}, reports without completion: {unaudited},",
                f"hedui audit verify: exit {verify.returncode}",
            )
        )
        assert outcomes["201"] == 4, outcomes  # two before the crash, two after the restart
        assert outcomes["connection lost"] == IN_FLIGHT
        assert abandoned == IN_FLIGHT
        assert unaudited == 0
        assert verify.returncode == 0, (out + err).decode()
    finally:
        await database.dispose()
        await agencies.stop()
