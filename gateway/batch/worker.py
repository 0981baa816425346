"""A batch worker: takes item keys from the work queue and processes them, ``concurrency`` at a time.

Any number of workers, in any number of processes and machines, share one queue. A delivery is
acknowledged only after its item is finished, and extended while it is worked on (a slow attempt keeps its
item; only a dead worker's deliveries come again); a failure that may pass (database, audit log, an unexpected
error) is retried after a delay; a delivery past the queue's ``max_attempts`` ends its item ``failed``
(``max_attempts``) and goes to the dead letters, so a poison item never blocks the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable

from gateway.batch.queue import Delivery, WorkQueue
from gateway.batch.service import BatchService
from gateway.errors import HeduiError

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        service: BatchService,
        queue: WorkQueue,
        *,
        concurrency: int = 4,
        retry_delay_s: float = 1.0,
        republish_every_s: float = 30.0,
    ) -> None:
        self._service = service
        self._queue = queue
        self._concurrency = concurrency
        self._retry_delay = retry_delay_s
        self._republish_every = republish_every_s
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish the items in hand."""
        running: set[asyncio.Task[None]] = set()
        next_republish = time.monotonic()
        try:
            while not stop.is_set():
                if time.monotonic() >= next_republish:
                    next_republish = time.monotonic() + self._republish_every
                    await self._quietly(self._service.publish_pending(older_than_s=self._republish_every))
                free = self._concurrency - len(running)
                if free == 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    deliveries = await self._queue.receive(free, wait_s=0.5)
                except HeduiError as exc:
                    log.warning("batch worker: queue unavailable (%s); retrying", exc.code)
                    await asyncio.sleep(1.0)
                    continue
                for delivery in deliveries:
                    task = asyncio.create_task(self._handle(delivery))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            if running:
                await asyncio.wait(running)

    async def _handle(self, delivery: Delivery) -> None:
        try:
            if delivery.exhausted:
                await self._service.fail(delivery.payload, "max_attempts")
                await self._queue.dead_letter(delivery, "max_attempts")
                return
            heartbeat = asyncio.create_task(self._keep(delivery))
            try:
                await self._service.process(delivery.payload)
            finally:
                heartbeat.cancel()
            await self._queue.ack(delivery)
            self.processed += 1
        except Exception as exc:  # any failure of one item is retried, never the worker's end
            log.warning(
                "batch item attempt %d failed (%s); retrying",
                delivery.attempt,
                getattr(exc, "code", type(exc).__name__),
            )
            await self._quietly(self._queue.retry(delivery, self._retry_delay))

    async def _keep(self, delivery: Delivery) -> None:
        """Extend ``delivery`` every third of the ack wait while it is processed, so that it is not delivered
        to another worker meanwhile (a missed extension or two still leaves time before the wait ends)."""
        while True:
            await asyncio.sleep(self._queue.ack_wait_s / 3)
            try:
                if not await self._queue.extend(delivery):
                    return  # no longer ours: the attempt's end is written only if it still owns the item
            except HeduiError:
                continue  # the queue is away for a moment: try again at the next beat

    @staticmethod
    async def _quietly(operation: Awaitable[object]) -> None:
        with contextlib.suppress(HeduiError):
            await operation
