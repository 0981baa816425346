"""Crashes mid-batch: ``kill -9`` of the hub process running in-process workers and of ``hedui worker``
processes, on the database queue and on NATS JetStream; after a restart every item has its result exactly
once, the audit log verifies, and every ``verification.requested`` has its ``completed`` or ``abandoned``.
And a poison item fails after the configured attempts without holding up the rest."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, update

from adapters.testkit.faults import FaultSettings
from gateway.audit import verify_log
from gateway.auth import Caller
from gateway.batch import BatchService, DatabaseQueue, NatsQueue, Worker
from gateway.batch.cli import spawn_workers
from gateway.batch.models import BatchCallback, BatchItem
from gateway.batch.sample import enrolled_households, review_request
from gateway.client import HubClient
from gateway.consent.seed import register_household_consents
from gateway.sandbox import SANDBOX_MEMBERS, Sandbox
from tests.integration.batch.conftest import all_results, wait_until_finished

NATS_URL = os.environ.get("HEDUI_TEST_NATS_URL", "nats://127.0.0.1:4222")
HEDUI = str(Path(sys.executable).with_name("hedui"))
MIS = str(SANDBOX_MEMBERS["mis"]["id"])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


async def start_sandbox(tmp_path: Path, **changes: Any) -> Sandbox:
    box = Sandbox(
        data_dir=tmp_path / "sandbox",
        port=0,
        households=80,
        faults={"tax": FaultSettings(latency_ms=150.0)},  # items take long enough to be cut short
        **changes,
    )
    await box.start()
    return box


async def review_items(box: Sandbox, count: int) -> list[dict[str, Any]]:
    """``count`` review requests of 110101 households, each with a dibao.review consent."""
    assert box.population is not None
    enrolled = {h.household_id for h in enrolled_households(box.population)}
    households = [h for h in box.population.households if h.region == "110101" and h.household_id not in enrolled]
    households = households[:count]
    mis = await box.hub.members.get(MIS)
    await register_household_consents(box.hub.consents, households, purpose="dibao.review", mis=mis)
    return [review_request(h, f"110101-crash-{i:04d}") for i, h in enumerate(households)]


def spawn(processes: list[subprocess.Popen[bytes]], environment: dict[str, str], *arguments: str) -> int:
    process = subprocess.Popen(
        [HEDUI, *arguments],
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes.append(process)
    return process.pid


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def until(condition: Callable[[], Any], bound_s: float = 120.0) -> None:
    deadline = asyncio.get_running_loop().time() + bound_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached within the bound"
        await asyncio.sleep(0.1)


async def items_of(box: Sandbox, batch_id: str) -> list[Any]:
    async with box.hub.database.session() as session:
        return list((await session.execute(select(BatchItem).where(BatchItem.batch_id == batch_id))).scalars().all())


async def assert_exactly_once_and_log_consistent(box: Sandbox, client: HubClient, batch_id: str, total: int) -> None:
    status = await wait_until_finished(client, batch_id)
    assert status["finished"] and status["counts"]["done"] == total, status["counts"]
    results = await all_results(client, batch_id)
    assert [r["index"] for r in results] == list(range(total))
    assert len({r["verification_id"] for r in results}) == total
    for result in results:
        assert result["report"]["verification_id"] == result["verification_id"]

    # The log verifies, and no verification started is left open.
    await box.hub.audit.checkpoint()
    await verify_log(box.hub.database, box.hub.audit_key.verifier_key())
    size = await box.hub.audit.tree_size()
    entries = [
        e.entry for start in range(0, size, 1000) for e in await box.hub.audit.entries(start, min(size, start + 1000))
    ]
    requested = {e["verification_id"] for e in entries if e["type"] == "verification.requested"}
    closed = {
        e["verification_id"] for e in entries if e["type"] in ("verification.completed", "verification.abandoned")
    }
    assert requested <= closed
    assert {r["verification_id"] for r in results} <= {
        e["verification_id"] for e in entries if e["type"] == "verification.completed"
    }


@pytest.fixture
async def database_box(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = await start_sandbox(tmp_path, hub_settings={"batch_workers": 0, "queue_ack_wait_s": 2.0})
    try:
        yield box
    finally:
        await box.stop()


async def test_kill_9_of_the_hub_and_its_workers_on_the_database_queue(
    database_box: Sandbox, processes: list[subprocess.Popen[bytes]]
) -> None:
    box = database_box
    items = await review_items(box, 20)
    environment = box.worker_environment()
    async with HubClient.from_sandbox(box.sandbox_json) as client:
        created = await client.submit_batch(f"crash-{uuid.uuid4().hex[:8]}", "dibao.review", items, close=True)
        batch_id = created["batch_id"]
        # A second hub process (same database) whose in-process workers take the batch; killed mid-way.
        hub_pid = spawn(processes, {**environment, "HEDUI_BATCH_WORKERS": "3"}, "serve", "--port", str(free_port()))

        async def some_done() -> bool:
            return (await client.batch_status(batch_id))["counts"]["done"] >= 3

        await until(some_done)
        os.kill(hub_pid, signal.SIGKILL)
        status = await client.batch_status(batch_id)
        assert not status["finished"]

        # Two workers resume; the items the hub had in hand come back after the ack wait.
        spawn(processes, environment, "worker", "--concurrency", "2")
        spawn(processes, environment, "worker", "--concurrency", "2")
        await assert_exactly_once_and_log_consistent(box, client, batch_id, len(items))


@pytest.fixture
async def nats_box(tmp_path: Path) -> AsyncIterator[Sandbox]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    box = await start_sandbox(tmp_path, queue_url=NATS_URL, hub_settings={"queue_name": name, "queue_ack_wait_s": 2.0})
    try:
        yield box
    finally:
        await box.stop()
        queue = await NatsQueue.connect(NATS_URL, name=name)
        await queue.delete_streams()
        await queue.aclose()


async def test_kill_9_of_every_worker_on_nats_then_redelivery_completes_the_batch(
    nats_box: Sandbox, processes: list[subprocess.Popen[bytes]]
) -> None:
    box = nats_box
    items = await review_items(box, 20)
    environment = box.worker_environment()
    async with HubClient.from_sandbox(box.sandbox_json) as client:
        created = await client.submit_batch(f"crash-{uuid.uuid4().hex[:8]}", "dibao.review", items, close=True)
        batch_id = created["batch_id"]
        started = spawn_workers(environment, 2, concurrency=3)  # as `hedui sandbox --queue nats://...` does
        processes.extend(started)
        workers = [process.pid for process in started]

        async def some_done_and_some_in_hand() -> bool:
            # Killed while they hold items: those items must come back (redelivery), whatever the load.
            counts = (await client.batch_status(batch_id))["counts"]
            return bool(counts["done"] >= 3 and counts["running"] >= 1)

        await until(some_done_and_some_in_hand)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert not (await client.batch_status(batch_id))["finished"]

        spawn(processes, environment, "worker", "--concurrency", "3")
        await assert_exactly_once_and_log_consistent(box, client, batch_id, len(items))
    # Items the killed workers held were delivered again (JetStream's ack wait), to the new worker.
    assert max(item.attempts for item in await items_of(box, batch_id)) >= 2


def in_process_service(box: Sandbox, queue: DatabaseQueue) -> BatchService:
    return BatchService(
        database=box.hub.database,
        keys=lambda: box.hub.keys,
        audit=box.hub.audit,
        members=box.hub.members,
        purposes=box.hub.purposes,
        verifications=box.hub.verifications,
        queue=queue,
    )


CALLER = Caller(member_id=MIS, role="local_mis", region="110101", scopes=frozenset({"verify"}))


async def test_a_slow_attempt_keeps_its_item_while_it_runs(database_box: Sandbox) -> None:
    """Items that take several ack waits (a slow agency, not a dead worker): their worker extends the
    deliveries, so the second worker polling the same queue never takes them over; one attempt each."""
    box = database_box
    items = await review_items(box, 2)
    queue = DatabaseQueue(box.hub.database, name=f"t_{uuid.uuid4().hex[:12]}", ack_wait_s=0.6)
    service = in_process_service(box, queue)
    created = await service.create(
        CALLER, {"batch_ref": "slow", "purpose": "dibao.review", "items": items, "close": True}
    )
    box.agencies["tax"].faults.settings = FaultSettings(latency_ms=2_000.0)  # over three ack waits
    stop = asyncio.Event()
    workers = [asyncio.create_task(Worker(service, queue, concurrency=2).run(stop)) for _ in range(2)]

    async def finished() -> bool:
        return bool((await service.status(CALLER, created["batch_id"]))["finished"])

    await until(finished)
    stop.set()
    await asyncio.gather(*workers)

    assert [item.attempts for item in await items_of(box, created["batch_id"])] == [1, 1]
    size = await box.hub.audit.tree_size()
    assert not [e for e in await box.hub.audit.entries(0, size) if e.entry["type"] == "verification.abandoned"]


async def test_a_poison_item_fails_after_the_configured_attempts_and_the_rest_complete(database_box: Sandbox) -> None:
    box = database_box
    items = await review_items(box, 6)
    queue = DatabaseQueue(box.hub.database, name=f"t_{uuid.uuid4().hex[:12]}", max_attempts=2, ack_wait_s=5.0)
    service = in_process_service(box, queue)
    caller = CALLER
    created = await service.create(
        caller, {"batch_ref": "poison", "purpose": "dibao.review", "items": items, "close": True}
    )
    # Item 2's stored request is damaged (a flipped bit): it can never be read, so every attempt fails.
    async with box.hub.database.session() as session, session.begin():
        sealed = await session.scalar(
            select(BatchItem.request_sealed).where(BatchItem.batch_id == created["batch_id"], BatchItem.item_index == 2)
        )
        assert sealed is not None
        await session.execute(
            update(BatchItem)
            .where(BatchItem.batch_id == created["batch_id"], BatchItem.item_index == 2)
            .values(request_sealed=sealed[:-1] + bytes([sealed[-1] ^ 1]))
        )
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(service, queue, concurrency=2, retry_delay_s=0.1).run(stop))

    async def finished() -> bool:
        return bool((await service.status(caller, created["batch_id"]))["finished"])

    await until(finished)
    stop.set()
    await worker

    status = await service.status(caller, created["batch_id"])
    assert status["counts"]["done"] == len(items) - 1
    assert status["errors"] == {"max_attempts": 1}
    page, complete = await service.results(caller, created["batch_id"], after=-1, limit=100)
    assert complete and [(r.index, r.state, r.error) for r in page if r.state != "done"] == [
        (2, "failed", "max_attempts")
    ]
    assert await queue.dead_letters() == [(f"{created['batch_id']}:2", "max_attempts")]
    size = await box.hub.audit.tree_size()
    failures = [
        e.entry
        for e in await box.hub.audit.entries(max(0, size - 200), size)
        if e.entry["type"] == "batch.changed" and e.entry["change"] == "item_failed"
    ]
    assert [(f["item_index"], f["reason"]) for f in failures] == [(2, "max_attempts")]


async def test_kill_9_of_the_worker_delivering_a_callback_mid_backoff_then_a_new_one_resumes(
    database_box: Sandbox, processes: list[subprocess.Popen[bytes]]
) -> None:
    box = database_box
    arrivals: list[tuple[float, str]] = []
    app = web.Application()

    async def hook(request: web.Request) -> web.Response:
        arrivals.append((time.time(), await request.text()))
        return web.Response(status=503 if len(arrivals) == 1 else 204)  # the first attempt fails

    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    await box.hub.members.set_callback_url(MIS, url, audit=box.hub.audit, actor=box.hub.settings.hub_id)
    environment = {
        **box.worker_environment(),
        "HEDUI_BATCH_CALLBACK_BACKOFF_S": "4",
        "HEDUI_BATCH_CALLBACK_BACKOFF_MAX_S": "4",  # the retry is due 2-4 s after the first attempt
        "HEDUI_BATCH_CALLBACK_POLL_S": "0.2",
    }

    async def callback_row() -> BatchCallback | None:
        async with box.hub.database.session() as session:
            return await session.get(BatchCallback, batch_id, populate_existing=True)

    try:
        items = await review_items(box, 3)
        async with HubClient.from_sandbox(box.sandbox_json) as client:
            created = await client.submit_batch(
                f"cb-{uuid.uuid4().hex[:8]}", "dibao.review", items, close=True, callback=True
            )
            batch_id = created["batch_id"]
            first = spawn(processes, environment, "worker", "--concurrency", "2")

            async def first_attempt_recorded() -> bool:
                row = await callback_row()
                return row is not None and row.last_error == "http_503"

            await until(first_attempt_recorded)
            os.kill(first, signal.SIGKILL)  # mid-backoff: only the database knows the schedule
            pending = await callback_row()
            assert pending is not None and (pending.state, pending.attempts) == ("pending", 1)
            due = pending.next_attempt_at.replace(tzinfo=pending.next_attempt_at.tzinfo or UTC).timestamp()

            spawn(processes, environment, "worker", "--concurrency", "2")

            async def delivered() -> bool:
                row = await callback_row()
                return row is not None and row.state == "delivered"

            await until(delivered, bound_s=60.0)
            assert len(arrivals) == 2, "sent once per attempt, never twice"
            assert arrivals[1][0] >= due - 0.5, "the new process kept the backoff of the killed one"
            claims = await client.verify_batch_callback(arrivals[1][1])
            assert (claims["batch_id"], claims["attempt"], claims["counts"]["done"]) == (batch_id, 2, 3)
    finally:
        await runner.cleanup()
