"""The process layout of deploy/compose.yaml without containers, on loopback: the one-shot `hedui db upgrade`,
two `hedui serve` hubs on one PostgreSQL database (its URL read from a secrets file, as in compose), the
simulated agencies (`hedui agencies serve`), a `hedui worker` on NATS JetStream, agency quotas shared
through Redis; verifications through both hubs, a batch through the queue, and one audit log that verifies
(docs/operations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import BinaryIO

import aiohttp
import pytest

from bench._population import POPULATION_SEED, bench_households, request_body
from bench._stack import free_ports, prepare_hub
from gateway.batch.queue import NatsQueue
from gateway.client import HubClient

pytestmark = pytest.mark.postgres

HEDUI = str(Path(sys.executable).parent / "hedui")
NATS_URL = os.environ.get("HEDUI_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("HEDUI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOUSEHOLDS = 60
BOUND_S = 90.0  # generous bound of every wait: the machine is shared


class Processes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: list[asyncio.subprocess.Process] = []
        self.logs: list[BinaryIO] = []

    async def start(self, name: str, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        log = (self.directory / f"{name}.log").open("wb")
        self.logs.append(log)
        process = await asyncio.create_subprocess_exec(
            HEDUI, *args, env=env, stdout=asyncio.subprocess.PIPE if name == "agencies" else log, stderr=log
        )
        self.running.append(process)
        return process

    async def stop(self) -> None:
        for process in self.running:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                await asyncio.wait_for(process.wait(), BOUND_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        for log in self.logs:
            log.close()


async def run(*args: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        HEDUI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), BOUND_S)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def until_ready(base_url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + BOUND_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert process.returncode is None, f"the hub at {base_url} exited (its log is in the test's tmp_path)"
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base_url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base_url} did not become ready")


@contextlib.asynccontextmanager
async def nats_streams(name: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        with contextlib.suppress(Exception):  # the streams exist only if a hub created them
            queue = await NatsQueue.connect(NATS_URL, name=name)
            await queue.delete_streams()
            await queue.aclose()


async def test_two_hubs_agencies_and_a_worker_serve_as_one(tmp_path: Path, postgres_url: str) -> None:
    as_of = date.today()
    queue_name = f"hedui_layout_{uuid.uuid4().hex[:10]}"
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "hedui_database_url").write_text(postgres_url, encoding="utf-8")
    base_env = {name: value for name, value in os.environ.items() if not name.startswith("HEDUI_")}
    env = {
        **base_env,
        "HEDUI_SECRETS_DIR": str(secrets),
        "HEDUI_KEY_DIR": str(tmp_path / "keys"),
        "HEDUI_MIGRATE_ON_START": "false",
        "HEDUI_QUEUE_URL": NATS_URL,
        "HEDUI_QUEUE_NAME": queue_name,
        # Agency quotas shared by both hubs and the worker through Redis (generous: they must not throttle).
        "HEDUI_REDIS_URL": REDIS_URL,
        "HEDUI_REDIS_PREFIX": queue_name,  # keys of this test only
        "HEDUI_DB_POOL_SIZE": "4",  # three processes on a shared test server: 32 each would take most of it
        "HEDUI_AGENCY_QUOTAS": '{"tax": {"rate_per_s": 10000}, "banking": {"rate_per_s": 10000}}',
    }
    processes = Processes(tmp_path)
    async with nats_streams(queue_name):
        try:
            await run("db", "upgrade", env=env)  # the compose file's one-shot `migrate` service
            agencies = await processes.start(
                "agencies",
                *("agencies", "serve", "--port=0", f"--households={HOUSEHOLDS}", f"--seed={POPULATION_SEED}"),
                f"--as-of={as_of.isoformat()}",
                env=base_env,
            )
            assert agencies.stdout is not None
            urls = {}
            for _ in range(5):
                line = (await asyncio.wait_for(agencies.stdout.readline(), BOUND_S)).decode().split()
                urls[line[1]] = line[2]
            households = bench_households(HOUSEHOLDS, as_of)
            setup = await prepare_hub(tmp_path, postgres_url, urls, households)  # keys, member, consents
            ports = free_ports(2)
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            hub_env = {**env, "HEDUI_AGENCIES": setup.settings_env["HEDUI_AGENCIES"], "HEDUI_PUBLIC_URL": bases[0]}
            hubs = [
                await processes.start(f"hub-{index}", "serve", f"--port={port}", env=hub_env)
                for index, port in enumerate(ports, start=1)
            ]
            await processes.start("worker", "worker", "--concurrency=2", env=hub_env)
            await asyncio.gather(*(until_ready(base, hub) for base, hub in zip(bases, hubs, strict=True)))
            await run("config", "check", env=hub_env)

            clients = [
                HubClient(base, member_id=setup.member_id, private_jwks=setup.member_private_jwks, hub_id=setup.hub_id)
                for base in bases
            ]
            try:
                for index in range(6):  # alternately through hub-1 and hub-2
                    report = await clients[index % 2].verify(request_body(households[index], index))
                    assert report["status"] == "complete"
                    again = await clients[(index + 1) % 2].get_verification(report["verification_id"])
                    assert again["verification_id"] == report["verification_id"]  # one shared database
                items = [request_body(households[6 + i], 100 + i) for i in range(3)]
                status = await clients[1].submit_batch(f"layout-{queue_name}", "dibao.application", items, close=True)
                deadline = time.monotonic() + BOUND_S
                while not status["finished"]:
                    assert time.monotonic() < deadline, f"the batch did not finish: {status}"
                    await asyncio.sleep(0.2)
                    status = await clients[0].batch_status(status["batch_id"])
                assert status["counts"]["done"] == 3
            finally:
                for client in clients:
                    await client.aclose()
        finally:
            await processes.stop()
    # Both hubs and the worker appended to one log: it verifies as a whole.
    summary = await run("audit", "verify", env=env)
    assert "audit log intact" in summary
