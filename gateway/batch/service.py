"""Batches of re-verifications (动态管理): intake, state, results, and the processing of one item.

Intake stores each item encrypted (its body holds identity numbers), in the same transaction as the batch
row and its ``batch.changed`` audit entry, then publishes the item keys (``<batch_id>:<index>``) to the work
queue and marks them published. Items left unpublished by a crash in between are published again by
:meth:`BatchService.publish_pending` (every worker calls it); the NATS queue drops the duplicates
(``Nats-Msg-Id``), and processing is idempotent anyway.

Processing (:meth:`BatchService.process`) runs the interactive path's verification core
(:meth:`~gateway.meanstest.flow.VerificationService.run`: authorisation, consent checked now, audit,
broker, policy) for the batch's requester. Each attempt is named (``verification_id``) and recorded on the
item before it starts. A delivery that finds its item already finished does nothing, so whatever the queue
redelivers, an item's result is written once. A delivery that finds an earlier attempt cut short takes over
its stored report if the flow got that far, and otherwise closes it with ``verification.abandoned`` and
starts a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import rfc8785
from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit import AuditLog, BatchChanged, VerificationAbandoned
from gateway.audit.models import AuditEntryRow, AuditSubject
from gateway.auth import Caller, PurposeCatalog
from gateway.batch._store import read_connection, write_transaction
from gateway.batch.callback import batch_callback_url
from gateway.batch.models import Batch, BatchCallback, BatchItem
from gateway.batch.queue import WorkQueue
from gateway.broker.quota import AgencyQuota, Priority, QuotaLimiter
from gateway.envelope import HubKeys
from gateway.errors import (
    BatchExists,
    BatchItemsInvalid,
    BatchNotOpen,
    BatchTooLarge,
    Forbidden,
    HeduiError,
    InvalidInput,
    NotFound,
    QueueUnavailable,
    RoleNotAllowed,
)
from gateway.ids import subject_ref
from gateway.meanstest.flow import VerificationService
from gateway.meanstest.request import parse_verification_request, validate_household
from gateway.members import MemberRegistry
from gateway.store import Database, verifications
from gateway.store.at_rest import open_at_rest, seal_at_rest
from gateway.store.models import Verification

log = logging.getLogger(__name__)

_BATCH_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_BATCH_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ITEM_KEY = re.compile(r"([0-9a-f-]{36}):(0|[1-9][0-9]{0,6})")
_REPORTED_ERRORS = 100
_RATE_WINDOW = timedelta(seconds=60)
FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item as :meth:`BatchService.results` pages them: ``verification_id`` once done, ``error`` (a
    problem code) once failed."""

    index: int
    case_id: str
    state: str
    verification_id: str | None
    outcome: str | None
    recommendation: str | None
    error: str | None


def item_key(batch_id: str, index: int) -> str:
    return f"{batch_id}:{index}"


class BatchService:
    def __init__(
        self,
        *,
        database: Database,
        keys: Callable[[], HubKeys],
        audit: AuditLog,
        members: MemberRegistry,
        purposes: PurposeCatalog,
        verifications: VerificationService,
        queue: WorkQueue,
        max_items: int = 10_000,
        quotas: Mapping[str, AgencyQuota] | None = None,
        limiter: QuotaLimiter | None = None,
    ) -> None:
        self._database = database
        self._keys = keys
        self._audit = audit
        self._members = members
        self._purposes = purposes
        self._verifications = verifications
        self.queue = queue
        self._max_items = max_items
        self._quotas = dict(quotas or {})
        self._limiter = limiter

    # -- intake ------------------------------------------------------------------------------------------

    async def create(self, caller: Caller, body: Mapping[str, Any]) -> dict[str, Any]:
        """A new batch from ``{"batch_ref", "purpose", "items": [...], "close": false}``, optionally with
        ``"callback": true`` or a ``"callback_url"`` on the member's registered callback origin (its completion
        notification, gateway/batch/callback.py); returns its status."""
        if caller.role != "local_mis":
            raise RoleNotAllowed("only a local MIS may submit batches")
        batch_ref, purpose = body.get("batch_ref"), body.get("purpose")
        if not isinstance(batch_ref, str) or not _BATCH_REF.fullmatch(batch_ref):
            raise InvalidInput("batch_ref must be 1-64 ASCII letters, digits and '_.:-'")
        if not isinstance(purpose, str):
            raise InvalidInput("purpose is required")
        self._purposes.authorize(
            role=caller.role, member_region=caller.region, purpose=purpose, region=caller.region or "", categories=()
        )
        items = self._valid_items(caller, purpose, body.get("items"))
        close = body.get("close", False) is True
        callback_url = None
        if body.get("callback") is not None or body.get("callback_url") is not None:
            registered = (await self._members.get(caller.member_id)).callback_url
            callback_url = batch_callback_url(registered, body.get("callback"), body.get("callback_url"))
        batch_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with write_transaction(self._database) as connection:
            existing = await connection.scalar(
                select(Batch.batch_id).where(Batch.requester == caller.member_id, Batch.batch_ref == batch_ref)
            )
            if existing is not None:
                raise BatchExists("this member already has a batch with this batch_ref", batch_id=existing)
            await connection.execute(
                insert(Batch).values(
                    batch_id=batch_id,
                    requester=caller.member_id,
                    batch_ref=batch_ref,
                    purpose=purpose,
                    state="closed" if close else "open",
                    item_count=len(items),
                    created_at=now,
                    closed_at=now if close else None,
                )
            )
            await self._insert_items(connection, batch_id, 0, items, now)
            changes = ["created", "closed"] if close else ["created"]
            if callback_url is not None:
                await connection.execute(
                    insert(BatchCallback).values(
                        batch_id=batch_id,
                        url=callback_url,
                        state="waiting",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                changes.append("callback_requested")
            await self._audit.append_within(
                connection,
                *(
                    batch_changed(caller.member_id, batch_id, batch_ref, purpose, change, item_count=len(items))
                    for change in changes
                ),
            )
        await self._publish_or_defer(batch_id, range(len(items)))
        return await self.status(caller, batch_id)

    async def add_items(self, caller: Caller, batch_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Append ``{"items": [...]}`` to an open batch; the new items' indices follow the existing ones."""
        batch = await self._batch(caller, batch_id)
        items = self._valid_items(caller, batch.purpose, body.get("items"))
        now = datetime.now(UTC)
        async with write_transaction(self._database) as connection:
            # One conditional UPDATE hands out the indices, so concurrent appends never collide.
            count = await connection.scalar(
                update(Batch)
                .where(Batch.batch_id == batch.batch_id, Batch.state == "open")
                .values(item_count=Batch.item_count + len(items))
                .returning(Batch.item_count)
            )
            if count is None:
                raise BatchNotOpen("the batch no longer takes items")
            first = count - len(items)
            await self._insert_items(connection, batch.batch_id, first, items, now)
            await self._audit.append_within(
                connection,
                batch_changed(
                    caller.member_id,
                    batch.batch_id,
                    batch.batch_ref,
                    batch.purpose,
                    "items_added",
                    item_count=len(items),
                ),
            )
        await self._publish_or_defer(batch.batch_id, range(first, count))
        return await self.status(caller, batch.batch_id)

    async def close(self, caller: Caller, batch_id: str) -> dict[str, Any]:
        """End intake; closing a closed batch again changes nothing."""
        await self._change_state(caller, batch_id, "closed")
        return await self.status(caller, batch_id)

    async def cancel(self, caller: Caller, batch_id: str) -> dict[str, Any]:
        """Stop the batch: queued items become ``cancelled``; items already running finish."""
        await self._change_state(caller, batch_id, "cancelled")
        return await self.status(caller, batch_id)

    async def _change_state(self, caller: Caller, batch_id: str, state: str) -> None:
        batch = await self._batch(caller, batch_id)
        now = datetime.now(UTC)
        allowed_from = ("open",) if state == "closed" else ("open", "closed")
        async with write_transaction(self._database) as connection:
            changed = cast(
                CursorResult[Any],
                await connection.execute(
                    update(Batch)
                    .where(Batch.batch_id == batch.batch_id, Batch.state.in_(allowed_from))
                    .values(state=state, **({"closed_at": now} if state == "closed" else {"cancelled_at": now}))
                ),
            )
            if changed.rowcount == 0:
                current = await connection.scalar(select(Batch.state).where(Batch.batch_id == batch.batch_id))
                if current == state:
                    return
                raise BatchNotOpen(f"the batch is {current}")
            count = None
            if state == "cancelled":
                cancelled = cast(
                    CursorResult[Any],
                    await connection.execute(
                        update(BatchItem)
                        .where(BatchItem.batch_id == batch.batch_id, BatchItem.state == "queued")
                        .values(state="cancelled", finished_at=now)
                    ),
                )
                count = cancelled.rowcount
            await self._audit.append_within(
                connection,
                batch_changed(
                    caller.member_id, batch.batch_id, batch.batch_ref, batch.purpose, state, item_count=count
                ),
            )

    def _valid_items(self, caller: Caller, purpose: str, items: Any) -> list[tuple[str, bytes]]:
        """Each item as (case_id, canonical body); every failing item is reported by index and code, never
        by value, and then none is taken."""
        if not isinstance(items, list) or not items:
            raise InvalidInput("items must be a non-empty list of verification requests")
        if len(items) > self._max_items:
            raise BatchTooLarge(f"at most {self._max_items} items per call", max_items=self._max_items)
        valid: list[tuple[str, bytes]] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise InvalidInput("an item is a verification request object")
                body = {"purpose": purpose, **item}
                if body["purpose"] != purpose:
                    raise InvalidInput("an item's purpose differs from the batch's")
                request = parse_verification_request(body)
                self._purposes.authorize(
                    role=caller.role,
                    member_region=caller.region,
                    purpose=request.purpose,
                    region=request.region,
                    categories=request.categories,
                )
                validate_household(request)
            except (InvalidInput, Forbidden) as exc:
                errors.append({"index": index, "code": exc.code})
                continue
            valid.append((request.case_id, rfc8785.dumps(body)))
        if errors:
            raise BatchItemsInvalid(
                f"{len(errors)} of {len(items)} items are not valid; nothing was taken",
                items=errors[:_REPORTED_ERRORS],
                invalid_count=len(errors),
            )
        return valid

    async def _insert_items(
        self, connection: AsyncConnection, batch_id: str, first: int, items: Sequence[tuple[str, bytes]], now: datetime
    ) -> None:
        storage_key = self._keys().storage_key
        await connection.execute(
            insert(BatchItem),
            [
                {
                    "batch_id": batch_id,
                    "item_index": first + offset,
                    "state": "queued",
                    "published": False,
                    "attempts": 0,
                    "case_id": case_id,
                    "request_sealed": seal_at_rest(storage_key, body, item_key(batch_id, first + offset).encode()),
                    "queued_at": now,
                }
                for offset, (case_id, body) in enumerate(items)
            ],
        )

    async def _publish_or_defer(self, batch_id: str, indices: Sequence[int]) -> None:
        """Publish newly committed items; if the queue is down they stay unpublished, and the workers'
        :meth:`publish_pending` publishes them later (the batch is accepted either way)."""
        try:
            await self._publish(batch_id, indices)
        except QueueUnavailable:
            log.warning("batch items not published now (queue unavailable); the workers will publish them")

    async def _publish(self, batch_id: str, indices: Sequence[int]) -> None:
        keys = [item_key(batch_id, index) for index in indices]
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            await self.queue.publish(chunk)
            async with write_transaction(self._database) as connection:
                await connection.execute(
                    update(BatchItem)
                    .where(
                        BatchItem.batch_id == batch_id,
                        BatchItem.item_index.in_([indices[start + i] for i in range(len(chunk))]),
                    )
                    .values(published=True)
                )

    async def publish_pending(self, older_than_s: float = 30.0) -> int:
        """Publish items a crash left unpublished (intake committed, queue not told); returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        async with read_connection(self._database) as connection:
            rows = (
                await connection.execute(
                    select(BatchItem.batch_id, BatchItem.item_index)
                    .where(BatchItem.published.is_(False), BatchItem.queued_at <= cutoff)
                    .order_by(BatchItem.batch_id, BatchItem.item_index)
                    .limit(10_000)
                )
            ).all()
        by_batch: dict[str, list[int]] = {}
        for batch_id, index in rows:
            by_batch.setdefault(batch_id, []).append(index)
        for batch_id, indices in by_batch.items():
            await self._publish(batch_id, indices)
        return len(rows)

    # -- reading -----------------------------------------------------------------------------------------

    async def _batch(self, caller: Caller, batch_id: str) -> Batch:
        """A batch of ``caller``; another member's gets the same 404 as an unknown id."""
        if not _BATCH_ID.fullmatch(batch_id):
            raise NotFound("no such batch for this requester")
        async with read_connection(self._database) as connection:
            row = (await connection.execute(select(Batch).where(Batch.batch_id == batch_id))).first()
        if row is None or row.requester != caller.member_id:
            raise NotFound("no such batch for this requester")
        return Batch(**row._asdict())

    async def status(self, caller: Caller, batch_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        """Counts by state and by outcome, throughput over the last minute, and the ETA at that rate."""
        batch = await self._batch(caller, batch_id)
        now = now or datetime.now(UTC)
        tallies = await self.tallies(batch.batch_id)
        async with read_connection(self._database) as connection:
            recent = await connection.scalar(
                select(func.count()).where(
                    BatchItem.batch_id == batch.batch_id,
                    BatchItem.finished_at >= now - _RATE_WINDOW,
                    BatchItem.state.in_(("done", "failed")),
                )
            )
            first_finished = await connection.scalar(
                select(func.min(BatchItem.finished_at)).where(
                    BatchItem.batch_id == batch.batch_id, BatchItem.state.in_(("done", "failed"))
                )
            )
            callback = (
                await connection.execute(
                    select(BatchCallback.state, BatchCallback.attempts, BatchCallback.last_error).where(
                        BatchCallback.batch_id == batch.batch_id
                    )
                )
            ).first()
        states = tallies["counts"]
        window = _RATE_WINDOW.total_seconds()
        if first_finished is not None:
            elapsed = (now - first_finished.replace(tzinfo=first_finished.tzinfo or UTC)).total_seconds()
            window = min(window, max(elapsed, 1.0))
        rate = (recent or 0) / window
        remaining = states["queued"] + states["running"]
        finished = remaining == 0 and batch.state != "open"
        status: dict[str, Any] = {
            "batch_id": batch.batch_id,
            "batch_ref": batch.batch_ref,
            "purpose": batch.purpose,
            "state": batch.state,
            "finished": finished,
            "total": batch.item_count,
            **tallies,
            "items_per_s": round(rate, 2),
            "eta_s": round(remaining / rate, 1) if rate > 0 and remaining else (0.0 if not remaining else None),
            "created_at": _iso(batch.created_at),
            "throttling": await self._throttling(),
        }
        if callback is not None:
            state, attempts, last_error = callback
            status["callback"] = {"state": state, "attempts": attempts, "last_error": last_error}
        return status

    async def tallies(self, batch_id: str) -> dict[str, dict[str, int]]:
        """A batch's items counted by state (``counts``), outcome, recommendation and error code."""
        async with read_connection(self._database) as connection:
            groups = (
                await connection.execute(
                    select(
                        BatchItem.state,
                        BatchItem.outcome,
                        BatchItem.recommendation,
                        BatchItem.error_code,
                        func.count(),
                    )
                    .where(BatchItem.batch_id == batch_id)
                    .group_by(BatchItem.state, BatchItem.outcome, BatchItem.recommendation, BatchItem.error_code)
                )
            ).all()
        states = dict.fromkeys(("queued", "running", "done", "failed", "cancelled"), 0)
        outcomes: dict[str, int] = {}
        recommendations: dict[str, int] = {}
        errors: dict[str, int] = {}
        for state, outcome, recommendation, error, count in groups:
            states[state] = states.get(state, 0) + count
            for key, tally in ((outcome, outcomes), (recommendation, recommendations), (error, errors)):
                if key is not None:
                    tally[key] = tally.get(key, 0) + count
        return {"counts": states, "outcomes": outcomes, "recommendations": recommendations, "errors": errors}

    async def _throttling(self) -> dict[str, dict[str, Any]]:
        """Each agency's quota and its use now (shared by every process on Redis); ``saturated`` when batch
        requests have used their share of the current window."""
        if self._limiter is None:
            return {}
        throttling = {}
        for agency, quota in sorted(self._quotas.items()):
            usage = await self._limiter.usage(agency)
            throttling[agency] = {
                "rate_per_s": quota.rate_per_s,
                "concurrency": quota.concurrency,
                "in_window": usage.in_window,
                "in_flight": usage.in_flight,
                "interactive_waiting": usage.interactive_waiting,
                "saturated": usage.in_window >= quota.window_limit - quota.reserve_rate(),
            }
        return throttling

    async def results(self, caller: Caller, batch_id: str, *, after: int, limit: int) -> tuple[list[ItemResult], bool]:
        """Finished items after index ``after`` in index order, stopping before the first unfinished one (so
        paging with ``after`` never skips an item); and whether every item is finished."""
        batch = await self._batch(caller, batch_id)
        async with read_connection(self._database) as connection:
            rows = (
                await connection.execute(
                    select(
                        BatchItem.item_index,
                        BatchItem.case_id,
                        BatchItem.state,
                        BatchItem.verification_id,
                        BatchItem.outcome,
                        BatchItem.recommendation,
                        BatchItem.error_code,
                    )
                    .where(BatchItem.batch_id == batch.batch_id, BatchItem.item_index > after)
                    .order_by(BatchItem.item_index)
                    .limit(limit)
                )
            ).all()
        page = []
        for index, case_id, state, verification_id, outcome, recommendation, error in rows:
            if state not in FINISHED:
                break
            page.append(
                ItemResult(
                    index,
                    case_id,
                    state,
                    verification_id if state == "done" else None,
                    outcome,
                    recommendation,
                    error,
                )
            )
        last = page[-1].index if page else after
        complete = batch.state != "open" and last == batch.item_count - 1
        return page, complete

    # -- processing --------------------------------------------------------------------------------------

    async def process(self, key: str) -> None:
        """Run one item (a delivery of the queue). Raises what should be retried; returns when the item is
        finished, whether by this call or before."""
        batch_id, index = _parse_key(key)
        now = datetime.now(UTC)
        async with write_transaction(self._database) as connection:
            found = await _item_and_batch(connection, batch_id, index)
            if found is None:
                return
            item, batch = found
            if item.state in FINISHED:
                return
            if batch.state == "cancelled":
                await _finish(connection, batch_id, index, state="cancelled", now=now)
                return
            cut_short = item.state == "running" and item.verification_id is not None
            if cut_short and await self._recover(connection, batch, item, now):
                return
            # Opened before the attempt is recorded: an item that cannot be read fails (and is retried, and
            # dead-lettered) without leaving an attempt behind.
            body = self._open_body(batch_id, index, item.request_sealed)
            attempt_id = str(uuid.uuid4())
            await connection.execute(
                update(BatchItem)
                .where(BatchItem.batch_id == batch_id, BatchItem.item_index == index)
                .values(state="running", attempts=BatchItem.attempts + 1, verification_id=attempt_id)
            )
        requester = await self._members.get(batch.requester)
        try:
            verification_id, report = await self._verifications.run(
                body,
                requester,
                request_digest=hashlib.sha256(rfc8785.dumps(body)).hexdigest(),
                verification_id=attempt_id,
                priority=Priority.BATCH,
            )
        except HeduiError as exc:
            if exc.status >= 500:
                raise  # the store, the audit log: retried
            # A refusal (no consent now, purpose no longer allowed, ...): audited by the flow as
            # verification.rejected; the item ends failed with the problem's code.
            async with write_transaction(self._database) as connection:
                if await _finish(
                    connection,
                    batch_id,
                    index,
                    state="failed",
                    now=datetime.now(UTC),
                    error_code=exc.code,
                    attempt_id=attempt_id,
                ):
                    await self._audit.append_within(connection, _item_failed(batch, index, exc.code))
            return
        async with write_transaction(self._database) as connection:
            await _finish(
                connection,
                batch_id,
                index,
                state="done",
                now=datetime.now(UTC),
                outcome=report["status"],
                recommendation=report.get("decision", {}).get("recommendation"),
                verification_id=verification_id,
                attempt_id=attempt_id,
            )

    async def fail(self, key: str, reason: str) -> None:
        """End an item ``failed`` with ``reason`` (its deliveries are exhausted); an attempt in progress is
        closed with ``verification.abandoned``."""
        batch_id, index = _parse_key(key)
        async with write_transaction(self._database) as connection:
            found = await _item_and_batch(connection, batch_id, index)
            if found is None or found[0].state in FINISHED:
                return
            item, batch = found
            if item.state == "running" and item.verification_id is not None:
                await self._recover(connection, batch, item, datetime.now(UTC))
            await _finish(connection, batch_id, index, state="failed", now=datetime.now(UTC), error_code=reason)
            await self._audit.append_within(connection, _item_failed(batch, index, reason))

    async def _recover(self, connection: AsyncConnection, batch: Batch, item: BatchItem, now: datetime) -> bool:
        """An earlier attempt of ``item`` was cut short (its process died). If it got as far as its report
        and its ``verification.completed`` entry, that is the item's result (True). Otherwise it is closed
        with ``verification.abandoned`` (False), and a new attempt follows."""
        verification_id = str(item.verification_id)
        request = validate_household(
            parse_verification_request(self._open_body(batch.batch_id, item.item_index, item.request_sealed))
        )
        pepper = self._keys().subject_pepper
        refs = tuple(subject_ref(pepper, person.id_number) for person in request.household)
        stored = await connection.scalar(
            select(Verification.status).where(
                Verification.verification_id == verification_id, Verification.status.in_(verifications.COMPLETED)
            )
        )
        if stored is not None and await _completed_in_log(connection, verification_id, refs[0]):
            await _finish(
                connection,
                batch.batch_id,
                item.item_index,
                state="done",
                now=now,
                outcome=stored,
                recommendation=await self._stored_recommendation(batch.requester, verification_id),
                verification_id=verification_id,
            )
            return True
        await self._audit.append_within(
            connection,
            VerificationAbandoned(
                actor=batch.requester,
                operator=request.operator,
                verification_id=verification_id,
                case_id=request.case_id,
                purpose=request.purpose,
                region=request.region,
                subject_refs=refs,
                categories=tuple(request.categories),
                reason="worker_lost",
            ),
        )
        await verifications.mark_abandoned(connection, [verification_id], now)
        return False

    async def _stored_recommendation(self, requester: str, verification_id: str) -> str | None:
        caller = Caller(member_id=requester, role="local_mis", region=None, scopes=frozenset())
        report = await self._verifications.stored_report(caller, verification_id)
        recommendation = report.get("decision", {}).get("recommendation")
        return str(recommendation) if recommendation is not None else None

    def _open_body(self, batch_id: str, index: int, sealed: bytes) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(
            open_at_rest(self._keys().storage_key, sealed, item_key(batch_id, index).encode())
        )
        return body


def _parse_key(key: str) -> tuple[str, int]:
    match = _ITEM_KEY.fullmatch(key)
    if match is None:
        raise InvalidInput("not a batch item key")
    return match[1], int(match[2])


async def _completed_in_log(connection: AsyncConnection, verification_id: str, ref: str) -> bool:
    """Whether ``verification.completed`` of ``verification_id`` is in the log (found through the subject
    index of one of its subjects, so only that person's few entries are read)."""
    rows = await connection.execute(
        select(AuditEntryRow.entry)
        .join(AuditSubject, AuditSubject.leaf_index == AuditEntryRow.leaf_index)
        .where(AuditSubject.subject_ref == ref, AuditEntryRow.entry_type == "verification.completed")
    )
    return any(json.loads(entry).get("verification_id") == verification_id for (entry,) in rows)


def batch_changed(actor: str, batch_id: str, batch_ref: str, purpose: str, change: str, **details: Any) -> BatchChanged:
    """The ``batch.changed`` entry of one change of a batch (``details``: item_count, item_index, attempt,
    reason); the one constructor of these entries, for intake, items and the completion callback alike."""
    return BatchChanged(actor=actor, batch_id=batch_id, batch_ref=batch_ref, purpose=purpose, change=change, **details)


def _item_failed(batch: Batch, index: int, reason: str) -> BatchChanged:
    return batch_changed(
        batch.requester, batch.batch_id, batch.batch_ref, batch.purpose, "item_failed", item_index=index, reason=reason
    )


async def _item_and_batch(connection: AsyncConnection, batch_id: str, index: int) -> tuple[BatchItem, Batch] | None:
    item_row = (
        await connection.execute(select(BatchItem).where(BatchItem.batch_id == batch_id, BatchItem.item_index == index))
    ).first()
    if item_row is None:
        return None
    batch_row = (await connection.execute(select(Batch).where(Batch.batch_id == batch_id))).one()
    return BatchItem(**item_row._asdict()), Batch(**batch_row._asdict())


async def _finish(
    connection: AsyncConnection,
    batch_id: str,
    index: int,
    *,
    state: str,
    now: datetime,
    attempt_id: str | None = None,
    **values: Any,
) -> bool:
    """Write an item's end once: only while it is unfinished (and, given ``attempt_id``, still that
    attempt's), so a late duplicate delivery changes nothing. True if this call wrote it."""
    condition = [BatchItem.batch_id == batch_id, BatchItem.item_index == index, BatchItem.state.not_in(FINISHED)]
    if attempt_id is not None:
        condition.append(BatchItem.verification_id == attempt_id)
    result = cast(
        CursorResult[Any],
        await connection.execute(update(BatchItem).where(*condition).values(state=state, finished_at=now, **values)),
    )
    return bool(result.rowcount)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
