"""``hedui serve`` as an operator runs it: a real process with several workers, JSON logs, a configuration
checked before it binds a port, and SIGTERM under load that loses no request and leaves no verification
half-audited (docs/operations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench._paths import HubPath
from bench._population import bench_households
from bench._stack import AgencyProcess, HubSetup, free_ports, prepare_hub
from gateway.audit import LogKey, log_origin, verify_log
from gateway.audit.models import AuditCheckpoint, AuditEntryRow
from gateway.store import Database
from tests.support import BOUND_S, audit_count, until

pytestmark = pytest.mark.postgres

HEDUI = str(Path(sys.executable).parent / "hedui")
HOUSEHOLDS = 60
IN_FLIGHT = 8
WARM_UP = 4
AGENCY_LATENCY_MS = 400.0  # long enough that every request is still at the agencies when SIGTERM arrives


@contextlib.asynccontextmanager
async def serving(
    setup: HubSetup, log_file: Path, *, workers: int
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    port = free_ports(1)[0]
    base_url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            HEDUI,
            "serve",
            f"--port={port}",
            f"--workers={workers}",
            env={**os.environ, **setup.settings_env, "HEDUI_PUBLIC_URL": base_url, "HEDUI_DB_POOL_SIZE": "4"},
            stdout=log,
            stderr=log,
        )
        try:
            await _until_ready(process, base_url)
            yield process, base_url
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _until_ready(process: asyncio.subprocess.Process, base_url: str) -> None:
    import aiohttp

    deadline = time.monotonic() + BOUND_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert process.returncode is None, "hedui serve exited before it was ready"
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base_url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("hedui serve did not become ready")


async def _verifications_counted(base_url: str) -> float:
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/metrics") as response:
        text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "hedui_verifications_total"
    )


async def test_sigterm_under_load_finishes_every_started_verification(tmp_path: Path, postgres_url: str) -> None:
    as_of = date.today()
    agencies = await AgencyProcess.start(HOUSEHOLDS, as_of)
    database = Database(postgres_url)
    try:
        households = bench_households(HOUSEHOLDS, as_of)
        setup = await prepare_hub(tmp_path, postgres_url, agencies.urls, households)
        await agencies.set_latency(AGENCY_LATENCY_MS)
        async with serving(setup, tmp_path / "serve.log", workers=2) as (process, base_url):
            hub = HubPath(setup, [base_url], households)
            try:
                await hub.authorize()
                # Two workers, one port: whichever worker a scrape reaches, it reports both workers' counts.
                hub.seal_requests(WARM_UP)
                await asyncio.gather(*(hub.call(i) for i in range(WARM_UP)))
                for _ in range(6):
                    assert await _verifications_counted(base_url) == WARM_UP
                hub.seal_requests(IN_FLIGHT)
                calls = [asyncio.create_task(hub.call(i)) for i in range(IN_FLIGHT)]

                async def all_requested() -> bool:
                    return await audit_count(database, "verification.requested") == WARM_UP + IN_FLIGHT

                # verification.requested is committed before any agency is asked: all are now in flight.
                await until(all_requested, "every verification to be accepted")
                assert await audit_count(database, "verification.completed") == WARM_UP
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(asyncio.gather(*calls), BOUND_S)  # none refused, none cut off
                assert await hub.check_answers() == {}  # every answer opens, is bound, is complete
                assert await asyncio.wait_for(process.wait(), BOUND_S) == 0
            finally:
                await hub.aclose()
        assert await audit_count(database, "verification.requested") == WARM_UP + IN_FLIGHT
        assert await audit_count(database, "verification.completed") == WARM_UP + IN_FLIGHT
        # The log verifies, and the last checkpoint, signed at shutdown, covers every entry.
        key = LogKey.load(tmp_path / "keys", name=log_origin(setup.hub_id))
        await verify_log(database, key.verifier_key())
        async with database.engine.connect() as connection:
            entries = (await connection.execute(select(func.count()).select_from(AuditEntryRow))).scalar_one()
            covered = (await connection.execute(select(func.max(AuditCheckpoint.tree_size)))).scalar_one()
        assert covered == entries
        # JSON logs: every line the server wrote is one JSON object, none carries an identity number.
        lines = (tmp_path / "serve.log").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert any(record.get("route") == "/v1/verifications" and record.get("status") == 201 for record in records)
        ids = {person.id_number for household in households for person in household.members}
        assert not any(id_number in line for line in lines for id_number in ids)
    finally:
        await database.dispose()
        await agencies.stop()


async def test_serve_lists_every_configuration_problem_and_binds_nothing(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("HEDUI_")},
        "HEDUI_SOURCE_TIMEOUT_S": "0",
        "HEDUI_HUB_ID": "CN/GOV/not-a-code/hub",
        "HEDUI_AGENCIES": json.dumps({"tax": "ftp://tax.example", "pension": "https://pension.example"}),
        "HEDUI_KEY_DIR": str(tmp_path / "no-keys"),
        "HEDUI_DATABASE_URL": "postgresql+asyncpg://hedui:s3cret-password@127.0.0.1:1/hedui",
    }
    process = await asyncio.create_subprocess_exec(
        HEDUI, "serve", f"--port={port}", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), BOUND_S)
    assert process.returncode == 2
    report = err.decode()
    for expected in (
        "HEDUI_SOURCE_TIMEOUT_S",
        "HEDUI_HUB_ID",
        "the URL of 'tax' is not an http(s) URL",
        "no adapter named 'pension'",
        "HEDUI_KEY_DIR",
        "HEDUI_DATABASE_URL: cannot connect",
        "6 configuration problem(s)",
    ):
        assert expected in report
    assert "s3cret-password" not in report + out.decode()
