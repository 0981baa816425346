"""What one hub or worker process holds of batches: the queue, the service and, optionally, a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.audit import AuditLog
from gateway.auth import PurposeCatalog
from gateway.batch.callback import CallbackSchedule
from gateway.batch.delivery import CallbackDeliverer
from gateway.batch.queue import WorkQueue, open_queue
from gateway.batch.service import BatchService
from gateway.batch.worker import Worker
from gateway.broker.quota import QuotaLimiter
from gateway.envelope import HubKeys
from gateway.meanstest.flow import VerificationService
from gateway.members import MemberRegistry
from gateway.settings import Settings
from gateway.store import Database


@dataclass
class BatchRuntime:
    service: BatchService
    queue: WorkQueue
    callbacks: CallbackDeliverer
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        database: Database,
        keys: Callable[[], HubKeys],
        audit: AuditLog,
        members: MemberRegistry,
        purposes: PurposeCatalog,
        verifications: VerificationService,
        limiter: QuotaLimiter | None = None,
    ) -> BatchRuntime:
        """``limiter`` is the broker's (read for the throttling a batch's status shows)."""
        queue = await open_queue(
            settings.queue_url,
            database,
            name=settings.queue_name,
            max_attempts=settings.queue_max_attempts,
            ack_wait_s=settings.queue_ack_wait_s,
        )
        service = BatchService(
            database=database,
            keys=keys,
            audit=audit,
            members=members,
            purposes=purposes,
            verifications=verifications,
            queue=queue,
            max_items=settings.batch_max_items,
            quotas=settings.agency_quotas,
            limiter=limiter,
        )
        callbacks = CallbackDeliverer(
            service,
            database=database,
            keys=keys,
            audit=audit,
            members=members,
            hub_id=settings.hub_id,
            schedule=CallbackSchedule(
                max_attempts=settings.batch_callback_max_attempts,
                base_delay_s=settings.batch_callback_backoff_s,
                max_delay_s=settings.batch_callback_backoff_max_s,
                timeout_s=settings.batch_callback_timeout_s,
            ),
            poll_s=settings.batch_callback_poll_s,
        )
        runtime = cls(service, queue, callbacks)
        if settings.batch_workers:
            runtime.start_worker(settings.batch_workers)
        return runtime

    def start_worker(self, concurrency: int) -> Worker:
        """A worker in this process, and with the first one the delivery of completion callbacks: they run
        where batches are processed (docs/decisions.md)."""
        if not self._workers:
            self._workers.append(asyncio.create_task(self.callbacks.run(self._stop), name="batch-callbacks"))
        worker = Worker(self.service, self.queue, concurrency=concurrency)
        self._workers.append(asyncio.create_task(worker.run(self._stop), name="batch-worker"))
        return worker

    async def aclose(self) -> None:
        """Stop the workers (items in hand finish first), then the queue."""
        self._stop.set()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        await self.queue.aclose()
