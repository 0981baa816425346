"""The work-queue conformance suite: the database queue (SQLite, PostgreSQL) and NATS JetStream must behave
alike (at-least-once delivery, acks, redelivery after the ack wait, retries, max attempts, dead letters)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from gateway.batch.queue import DatabaseQueue, Delivery, NatsQueue, WorkQueue
from gateway.store import Database

NATS_URL = os.environ.get("HEDUI_TEST_NATS_URL", "nats://127.0.0.1:4222")
ACK_WAIT_S = 0.5


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "nats"])
def backend(request: pytest.FixtureRequest) -> str:
    """A database URL, or the NATS server's."""
    return NATS_URL if request.param == "nats" else str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def queue(backend: str) -> AsyncIterator[WorkQueue]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    if backend.startswith("nats://"):
        nats_queue = await NatsQueue.connect(NATS_URL, name=name, max_attempts=2, ack_wait_s=ACK_WAIT_S)
        try:
            yield nats_queue
        finally:
            await nats_queue.delete_streams()
            await nats_queue.aclose()
        return
    database = Database(backend)
    try:
        yield DatabaseQueue(database, name=name, max_attempts=2, ack_wait_s=ACK_WAIT_S)
    finally:
        await database.dispose()


async def receive_all(queue: WorkQueue, count: int, wait_s: float = 10.0) -> list[Delivery]:
    """Deliveries until ``count`` have come (bounded generously; the queue must not need the whole bound)."""
    got: list[Delivery] = []
    deadline = asyncio.get_running_loop().time() + wait_s
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        got.extend(await queue.receive(count - len(got), wait_s=0.5))
    return got


async def test_published_items_are_delivered_once_in_order_and_gone_when_acked(queue: WorkQueue) -> None:
    await queue.publish([f"b:{i}" for i in range(5)])

    deliveries = await receive_all(queue, 5)
    assert [d.payload for d in deliveries] == [f"b:{i}" for i in range(5)]
    assert {d.attempt for d in deliveries} == {1}
    assert not any(d.exhausted for d in deliveries)
    for delivery in deliveries:
        await queue.ack(delivery)

    assert await queue.receive(5, wait_s=ACK_WAIT_S * 2) == []


async def test_an_unacknowledged_delivery_comes_again_after_the_ack_wait(queue: WorkQueue) -> None:
    await queue.publish(["b:0"])
    (first,) = await receive_all(queue, 1)
    assert first.attempt == 1
    assert await queue.receive(1, wait_s=0.1) == []  # leased to the first receiver meanwhile

    (again,) = await receive_all(queue, 1)  # its receiver "died": no ack, no retry

    assert (again.payload, again.attempt) == ("b:0", 2)
    await queue.ack(again)
    assert await queue.receive(1, wait_s=ACK_WAIT_S * 2) == []


async def test_a_retried_delivery_comes_again_and_past_max_attempts_is_exhausted(queue: WorkQueue) -> None:
    await queue.publish(["poison", "fine"])
    attempts = []
    while True:
        deliveries = {d.payload: d for d in await receive_all(queue, 1 if attempts else 2)}
        if "fine" in deliveries:
            await queue.ack(deliveries.pop("fine"))
        delivery = deliveries["poison"]
        attempts.append((delivery.attempt, delivery.exhausted))
        if delivery.exhausted:
            await queue.dead_letter(delivery, "max_attempts")
            break
        await queue.retry(delivery, delay_s=0.0)

    assert attempts == [(1, False), (2, False), (3, True)]
    assert await queue.dead_letters() == [("poison", "max_attempts")]
    assert await queue.receive(2, wait_s=ACK_WAIT_S * 2) == []


async def test_concurrent_receivers_share_the_items_without_overlap(queue: WorkQueue) -> None:
    await queue.publish([f"b:{i}" for i in range(20)])
    seen: list[str] = []

    async def work() -> None:
        while True:
            deliveries = await queue.receive(3, wait_s=0.5)
            if not deliveries:
                return
            for delivery in deliveries:
                seen.append(delivery.payload)
                await queue.ack(delivery)

    await asyncio.gather(work(), work(), work())

    assert sorted(seen) == sorted(f"b:{i}" for i in range(20))


async def test_an_extended_delivery_is_not_delivered_again_while_it_is_worked_on(queue: WorkQueue) -> None:
    """A slow (not dead) receiver extends its delivery: nobody else gets it for several ack waits; once it
    stops extending, the delivery comes again as usual. An acknowledged one cannot be extended."""
    await queue.publish(["slow", "quick"])
    slow, quick = await receive_all(queue, 2)
    await queue.ack(quick)
    assert not await queue.extend(quick) or isinstance(queue, NatsQueue)  # JetStream ignores a late +WPI
    for _ in range(8):  # 8 x ack wait / 3 = 2.7 ack waits
        await asyncio.sleep(ACK_WAIT_S / 3)
        assert await queue.extend(slow)
        assert await queue.receive(1, wait_s=0.0) == []

    (again,) = await receive_all(queue, 1)

    assert (again.payload, again.attempt) == ("slow", 2)
    assert isinstance(queue, NatsQueue) or not await queue.extend(slow)  # the lease is the new delivery's now
    await queue.ack(again)
