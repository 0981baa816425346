"""Bulk re-verification (动态管理): durable batches on a work queue (database or NATS JetStream), processed by
workers through the same verification flow as interactive requests (docs/batch.md)."""

from gateway.batch.queue import DatabaseQueue, Delivery, NatsQueue, WorkQueue, open_queue
from gateway.batch.service import BatchService, ItemResult, item_key
from gateway.batch.worker import Worker

__all__ = [
    "BatchService",
    "DatabaseQueue",
    "Delivery",
    "ItemResult",
    "NatsQueue",
    "WorkQueue",
    "Worker",
    "item_key",
    "open_queue",
]
