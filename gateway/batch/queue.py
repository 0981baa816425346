"""The work queue of batch items: one interface, two implementations, one conformance suite
(tests/integration/batch/test_queue_conformance.py).

Delivery is at least once. A delivery that is neither acknowledged nor retried within ``ack_wait_s`` (its
worker died) is delivered again; a worker still on it extends it (:meth:`WorkQueue.extend`, every third of the
ack wait), so a slow attempt is not taken over while it runs. Each delivery carries its ``attempt`` (1 for
the first); a delivery past ``max_attempts`` comes back ``exhausted``, and its receiver dead-letters it
instead of processing it, so a poison message stops after the configured attempts, with a dead letter saying
why.

- :class:`DatabaseQueue`: rows of ``queue_messages`` in the hub's database (the embedded default). On
  PostgreSQL receivers claim with ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers never wait
  on each other's rows; on SQLite the claim runs under the database write lock (``BEGIN IMMEDIATE``).
- :class:`NatsQueue`: NATS JetStream. A work-queue stream (each message goes to one consumer and is removed
  when acknowledged), one durable pull consumer shared by every worker with explicit acks, ``AckWait`` as
  the redelivery timer, ``Nats-Msg-Id`` de-duplication of republished items, and a second stream holding
  the dead letters.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update

from gateway.batch._store import read_connection, write_transaction
from gateway.batch.models import QueueMessage
from gateway.errors import ConfigurationError, QueueUnavailable
from gateway.store import Database

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,48}")
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Delivery:
    payload: str
    attempt: int
    exhausted: bool
    handle: Any = field(repr=False, compare=False)


class WorkQueue(Protocol):
    max_attempts: int
    ack_wait_s: float

    async def publish(self, payloads: Sequence[str]) -> None:
        """Enqueue ``payloads`` (opaque ASCII strings, at most 256 characters)."""

    async def receive(self, max_messages: int, wait_s: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries; waits up to ``wait_s`` for the first, then returns."""

    async def ack(self, delivery: Delivery) -> None:
        """Done with it: it is not delivered again."""

    async def retry(self, delivery: Delivery, delay_s: float) -> None:
        """Deliver it again after ``delay_s``."""

    async def extend(self, delivery: Delivery) -> bool:
        """Still working on it: not delivered again for another ``ack_wait_s``. False if it is no longer this
        delivery's (its ack wait had passed and it went to another receiver, or it was acknowledged)."""

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Not delivered again; kept with ``reason`` among the dead letters."""

    async def dead_letters(self) -> list[tuple[str, str]]:
        """Every dead letter as (payload, reason), oldest first."""

    async def aclose(self) -> None: ...


def _checked_name(name: str) -> str:
    if not _QUEUE_NAME.fullmatch(name):
        raise ConfigurationError("a queue name is 1-48 ASCII letters, digits, '-' or '_'")
    return name


class DatabaseQueue:
    def __init__(self, database: Database, *, name: str, max_attempts: int = 3, ack_wait_s: float = 60.0) -> None:
        self._database = database
        self._name = _checked_name(name)
        self.max_attempts = max_attempts
        self.ack_wait_s = ack_wait_s
        self._ack_wait = timedelta(seconds=ack_wait_s)

    async def publish(self, payloads: Sequence[str]) -> None:
        if not payloads:
            return
        now = datetime.now(UTC)
        rows = [{"queue": self._name, "payload": p, "deliveries": 0, "available_at": now} for p in payloads]
        async with write_transaction(self._database) as connection:
            await connection.execute(insert(QueueMessage), rows)

    async def receive(self, max_messages: int, wait_s: float) -> list[Delivery]:
        deadline = time.monotonic() + wait_s
        while True:
            claimed = await self._claim(max_messages)
            if claimed or time.monotonic() >= deadline:
                return claimed
            await asyncio.sleep(min(_POLL_S, max(deadline - time.monotonic(), 0.0)))

    async def _claim(self, max_messages: int) -> list[Delivery]:
        now = datetime.now(UTC)
        ready = (
            select(QueueMessage.message_id)
            .where(
                QueueMessage.queue == self._name,
                QueueMessage.dead_reason.is_(None),
                QueueMessage.available_at <= now,
            )
            .order_by(QueueMessage.message_id)
            .limit(max_messages)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders no locking clause
            .scalar_subquery()
        )
        claim = (
            update(QueueMessage)
            .where(QueueMessage.message_id.in_(ready))
            .values(deliveries=QueueMessage.deliveries + 1, available_at=now + self._ack_wait)
            .returning(QueueMessage.message_id, QueueMessage.payload, QueueMessage.deliveries)
        )
        async with write_transaction(self._database) as connection:
            rows = (await connection.execute(claim)).all()
        return sorted(
            (
                Delivery(payload, attempt, attempt > self.max_attempts, (message_id, attempt))
                for message_id, payload, attempt in rows
            ),
            key=lambda d: d.handle[0],
        )

    async def ack(self, delivery: Delivery) -> None:
        message_id, attempt = delivery.handle
        async with write_transaction(self._database) as connection:
            # Only the current delivery's holder: after a lease expired, the message belongs to its new one.
            await connection.execute(
                delete(QueueMessage).where(QueueMessage.message_id == message_id, QueueMessage.deliveries == attempt)
            )

    async def retry(self, delivery: Delivery, delay_s: float) -> None:
        message_id, attempt = delivery.handle
        async with write_transaction(self._database) as connection:
            await connection.execute(
                update(QueueMessage)
                .where(QueueMessage.message_id == message_id, QueueMessage.deliveries == attempt)
                .values(available_at=datetime.now(UTC) + timedelta(seconds=delay_s))
            )

    async def extend(self, delivery: Delivery) -> bool:
        message_id, attempt = delivery.handle
        async with write_transaction(self._database) as connection:
            # Only while this delivery holds it: once its lease passed, the message is another delivery's.
            extended = await connection.execute(
                update(QueueMessage)
                .where(QueueMessage.message_id == message_id, QueueMessage.deliveries == attempt)
                .values(available_at=datetime.now(UTC) + self._ack_wait)
            )
        return bool(extended.rowcount)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        message_id, _ = delivery.handle
        async with write_transaction(self._database) as connection:
            await connection.execute(
                update(QueueMessage).where(QueueMessage.message_id == message_id).values(dead_reason=reason)
            )

    async def dead_letters(self) -> list[tuple[str, str]]:
        async with read_connection(self._database) as connection:
            rows = await connection.execute(
                select(QueueMessage.payload, QueueMessage.dead_reason)
                .where(QueueMessage.queue == self._name, QueueMessage.dead_reason.is_not(None))
                .order_by(QueueMessage.message_id)
            )
            return [(payload, str(reason)) for payload, reason in rows]

    async def aclose(self) -> None:
        """Nothing to release: the hub's database outlives the queue."""


class NatsQueue:
    """Connect with :meth:`connect`. Stream ``<name>`` on subject ``hedui.<name>.work``, dead letters in
    stream ``<name>_DEAD`` on ``hedui.<name>.dead``, durable consumer ``workers``."""

    def __init__(
        self, client: Any, js: Any, subscription: Any, *, name: str, max_attempts: int, ack_wait_s: float
    ) -> None:
        self._client = client
        self._js = js
        self._subscription = subscription
        self._name = name
        self.max_attempts = max_attempts
        self.ack_wait_s = ack_wait_s

    @classmethod
    async def connect(
        cls, url: str, *, name: str, max_attempts: int = 3, ack_wait_s: float = 60.0, duplicate_window_s: float = 120.0
    ) -> NatsQueue:
        import nats
        from nats.errors import Error as NatsError
        from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

        name = _checked_name(name)
        try:
            client = await nats.connect(url, connect_timeout=5, allow_reconnect=True, max_reconnect_attempts=-1)
        except (OSError, NatsError, TimeoutError) as exc:
            raise QueueUnavailable("the NATS server could not be reached") from exc
        try:
            js = client.jetstream()
            await js.add_stream(
                StreamConfig(
                    name=name,
                    subjects=[f"hedui.{name}.work"],
                    retention=RetentionPolicy.WORK_QUEUE,
                    storage=StorageType.FILE,
                    duplicate_window=duplicate_window_s,
                )
            )
            await js.add_stream(
                StreamConfig(name=f"{name}_DEAD", subjects=[f"hedui.{name}.dead"], storage=StorageType.FILE)
            )
            # MaxDeliver stays unlimited on the server: a message past it would sit in the work queue with no
            # trace; the receiver dead-letters deliveries past max_attempts instead (``exhausted``).
            subscription = await js.pull_subscribe(
                f"hedui.{name}.work",
                durable="workers",
                stream=name,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_deliver=-1),
            )
        except (NatsError, TimeoutError) as exc:
            await client.close()
            raise QueueUnavailable("the JetStream stream or consumer could not be set up") from exc
        return cls(client, js, subscription, name=name, max_attempts=max_attempts, ack_wait_s=ack_wait_s)

    async def publish(self, payloads: Sequence[str]) -> None:
        from nats.errors import Error as NatsError

        try:
            acks = [
                await self._js.publish_async(
                    f"hedui.{self._name}.work",
                    payload.encode("ascii"),
                    # JetStream drops a second message with the same id within the duplicate window.
                    headers={"Nats-Msg-Id": payload},
                )
                for payload in payloads
            ]
            await asyncio.gather(*acks)
        except (NatsError, TimeoutError) as exc:
            raise QueueUnavailable("JetStream did not acknowledge the published items") from exc

    async def receive(self, max_messages: int, wait_s: float) -> list[Delivery]:
        from nats.errors import Error as NatsError

        try:
            messages = await self._subscription.fetch(max_messages, timeout=max(wait_s, 0.01))
        except TimeoutError:
            return []
        except NatsError as exc:
            raise QueueUnavailable("JetStream did not answer the fetch") from exc
        deliveries = []
        for message in messages:
            attempt = int(message.metadata.num_delivered)
            deliveries.append(Delivery(message.data.decode("ascii"), attempt, attempt > self.max_attempts, message))
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        await self._acknowledge(delivery)

    async def retry(self, delivery: Delivery, delay_s: float) -> None:
        await delivery.handle.nak(delay=delay_s)

    async def extend(self, delivery: Delivery) -> bool:
        from nats.errors import Error as NatsError

        # JetStream's "+WPI" (work in progress) acknowledgement restarts the message's AckWait timer.
        try:
            await delivery.handle.in_progress()
        except (NatsError, TimeoutError):
            return False
        return True

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        from nats.errors import Error as NatsError

        try:
            await self._js.publish(
                f"hedui.{self._name}.dead", delivery.payload.encode("ascii"), headers={"Hedui-Dead-Reason": reason}
            )
        except (NatsError, TimeoutError) as exc:
            raise QueueUnavailable("JetStream did not take the dead letter") from exc
        await self._acknowledge(delivery)

    async def _acknowledge(self, delivery: Delivery) -> None:
        from nats.errors import Error as NatsError

        try:
            await delivery.handle.ack_sync(timeout=5.0)
        except (NatsError, TimeoutError) as exc:
            # Not acknowledged means delivered again: processing is idempotent, so this loses nothing.
            raise QueueUnavailable("JetStream did not confirm the acknowledgement") from exc

    async def dead_letters(self) -> list[tuple[str, str]]:
        from nats.js.errors import NotFoundError

        info = await self._js.stream_info(f"{self._name}_DEAD")
        letters = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await self._js.get_msg(f"{self._name}_DEAD", seq)
            except NotFoundError:
                continue
            letters.append((message.data.decode("ascii"), (message.headers or {}).get("Hedui-Dead-Reason", "")))
        return letters

    async def delete_streams(self) -> None:
        """Remove both streams (tests and benchmarks that made their own)."""
        for stream in (self._name, f"{self._name}_DEAD"):
            await self._js.delete_stream(stream)

    async def aclose(self) -> None:
        await self._client.close()


async def open_queue(
    url: str | None, database: Database, *, name: str, max_attempts: int, ack_wait_s: float
) -> WorkQueue:
    """The queue a ``HEDUI_QUEUE_URL`` names: ``nats://host:port`` for JetStream; empty or ``database`` for
    the hub's own database."""
    if url in (None, "", "database"):
        return DatabaseQueue(database, name=name, max_attempts=max_attempts, ack_wait_s=ack_wait_s)
    if url.startswith(("nats://", "tls://")):
        return await NatsQueue.connect(url, name=name, max_attempts=max_attempts, ack_wait_s=ack_wait_s)
    raise ConfigurationError("queue_url must be 'database' or a nats:// URL")
