"""Delivery of batch completion callbacks (docs/batch.md "Completion callback"; the notification itself:
gateway/batch/callback.py).

Delivery is durable and single. The ``batch_callbacks`` row holds the attempts, the next attempt's time and
the last error, so a restarted deliverer resumes the schedule where it was. A deliverer claims a due row by
counting an attempt and leasing it (``next_attempt_at`` moved past the longest a send can take), under
``FOR UPDATE SKIP LOCKED`` on PostgreSQL and the write lock (``BEGIN IMMEDIATE``) on SQLite, as the database
work queue claims: two deliverers never send the same attempt, and the row of one that died mid-send becomes
due again when its lease ends. Each outcome (delivered, attempt failed, failed for good) is written with its
``batch.changed`` entry in one transaction, and only by the holder of that attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
from sqlalchemy import CursorResult, exists, select, update

from gateway.audit import AuditLog
from gateway.batch._store import read_connection, write_transaction
from gateway.batch.callback import CALLBACK_TYPE, CONTENT_TYPE, CallbackSchedule, callback_claims
from gateway.batch.models import Batch, BatchCallback, BatchItem
from gateway.batch.service import BatchService, batch_changed
from gateway.envelope import HubKeys
from gateway.envelope.jwt import sign_jwt
from gateway.errors import CallbackUrlNotAllowed, NotFound
from gateway.members import MemberRegistry
from gateway.members.callback_url import callback_origin
from gateway.store import Database

log = logging.getLogger(__name__)

_UNFINISHED = ("queued", "running")
# Answers that another attempt would only repeat (RFC 9110 §15.5): the receiver refuses this notification, not
# this moment. 408 Request Timeout, 425 Too Early and 429 Too Many Requests are about the moment, and other
# statuses (5xx, redirects, transport failures) may pass: those are retried on the schedule.
_PERMANENT = frozenset(f"http_{status}" for status in (400, 401, 403, 404, 405, 410, 411, 413, 414, 415, 422))
_CLAIM_BATCH = 16


@dataclass(frozen=True, slots=True)
class _Claimed:
    batch_id: str
    url: str
    attempt: int


class CallbackDeliverer:
    """Delivers due notifications until stopped. Run one in every process that runs batch workers (the
    hub with ``HEDUI_BATCH_WORKERS``, ``hedui worker``); any number share the table safely."""

    def __init__(
        self,
        service: BatchService,
        *,
        database: Database,
        keys: Callable[[], HubKeys],
        audit: AuditLog,
        members: MemberRegistry,
        hub_id: str,
        schedule: CallbackSchedule | None = None,
        poll_s: float = 2.0,
    ) -> None:
        self._service = service
        self._database = database
        self._keys = keys
        self._audit = audit
        self._members = members
        self._hub_id = hub_id
        self.schedule = schedule or CallbackSchedule()
        self._poll = poll_s
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Promote finished batches' notifications and send the due ones every ``poll_s`` until ``stop``."""
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception as exc:  # the database, say: the rows stay, the next round retries
                    log.warning("batch callbacks: %s; retrying", getattr(exc, "code", type(exc).__name__))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)
        finally:
            await self.aclose()

    async def run_once(self) -> int:
        """One round: notifications of batches finished since become due; the due ones are claimed and sent.
        Returns how many were sent (whatever the answer)."""
        await self._promote_finished()
        claimed = await self._claim()
        await asyncio.gather(*(self._deliver(item) for item in claimed))
        self.sent += len(claimed)
        return len(claimed)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _promote_finished(self) -> None:
        """``waiting`` -> ``pending`` for batches whose intake ended and whose items all finished (read
        first, so that a round with nothing to do takes no write lock)."""
        unfinished = exists().where(BatchItem.batch_id == BatchCallback.batch_id, BatchItem.state.in_(_UNFINISHED))
        finished = (
            select(BatchCallback.batch_id)
            .join(Batch, Batch.batch_id == BatchCallback.batch_id)
            .where(BatchCallback.state == "waiting", Batch.state != "open", ~unfinished)
        )
        async with read_connection(self._database) as connection:
            ready = list((await connection.scalars(finished.limit(1000))).all())
        if not ready:
            return
        async with write_transaction(self._database) as connection:
            await connection.execute(
                update(BatchCallback)
                .where(BatchCallback.batch_id.in_(ready), BatchCallback.state == "waiting")
                .values(state="pending", next_attempt_at=datetime.now(UTC))
            )

    async def _claim(self) -> list[_Claimed]:
        now = datetime.now(UTC)
        async with read_connection(self._database) as connection:
            # Read first: a round with nothing due takes no write lock (SQLite has one for the whole database).
            any_due = await connection.scalar(
                select(BatchCallback.batch_id)
                .where(BatchCallback.state == "pending", BatchCallback.next_attempt_at <= now)
                .limit(1)
            )
        if any_due is None:
            return []
        due = (
            select(BatchCallback.batch_id)
            .where(BatchCallback.state == "pending", BatchCallback.next_attempt_at <= now)
            .order_by(BatchCallback.next_attempt_at)
            .limit(_CLAIM_BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders none and claims under its write lock
            .scalar_subquery()
        )
        claim = (
            update(BatchCallback)
            .where(
                BatchCallback.batch_id.in_(due),
                BatchCallback.state == "pending",
                BatchCallback.next_attempt_at <= now,
            )
            .values(
                attempts=BatchCallback.attempts + 1,
                next_attempt_at=now + timedelta(seconds=self.schedule.lease_s),
            )
            .returning(BatchCallback.batch_id, BatchCallback.url, BatchCallback.attempts)
        )
        async with write_transaction(self._database) as connection:
            rows = (await connection.execute(claim)).all()
        return [_Claimed(batch_id, url, attempts) for batch_id, url, attempts in rows]

    async def _deliver(self, claimed: _Claimed) -> None:
        try:
            async with read_connection(self._database) as connection:
                row = (await connection.execute(select(Batch).where(Batch.batch_id == claimed.batch_id))).one()
            batch = Batch(**row._asdict())
            if claimed.attempt > self.schedule.max_attempts:
                # The holder of the last attempt died before recording it (its lease ended): as the work
                # queue does with an exhausted delivery, it ends here, unsent.
                error: str | None = "max_attempts"
            else:
                error = await self._refusal(batch, claimed.url)
            if error is None:
                claims = callback_claims(
                    hub_id=self._hub_id,
                    batch=batch,
                    tallies=await self._service.tallies(batch.batch_id),
                    attempt=claimed.attempt,
                    lifetime_s=self.schedule.token_lifetime_s,
                )
                token = sign_jwt(claims, self._keys().signing_key, typ=CALLBACK_TYPE)
                error = await self._post(claimed.url, token)
                final = error is None or claimed.attempt >= self.schedule.max_attempts or error in _PERMANENT
            else:
                final = True  # exhausted, or no longer the member's registered origin: never sent
            await self._record(batch, claimed, error, final=final)
        except Exception as exc:  # the database, the audit log, anything: the lease ends and the row is due again
            log.warning(
                "batch callback %s attempt %d not recorded (%s)",
                claimed.batch_id,
                claimed.attempt,
                getattr(exc, "code", type(exc).__name__),
            )

    async def _refusal(self, batch: Batch, url: str) -> str | None:
        """Why ``url`` may not be sent to now: the member's registration may have changed since the batch
        was submitted, and a notification goes only to the origin registered at the time of sending."""
        try:
            registered = (await self._members.get(batch.requester)).callback_url
        except NotFound:
            registered = None
        if registered is None or callback_origin(registered) != callback_origin(url):
            return CallbackUrlNotAllowed.code
        return None

    async def _post(self, url: str, token: str) -> str | None:
        """POST the token; None if the receiver answered 2xx, else a short code of what happened. Redirects
        are not followed (the notification goes to the registered origin only) and the answer's body is
        never read."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.schedule.timeout_s, connect=min(5.0, self.schedule.timeout_s))
            self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        try:
            async with self._session.post(
                url, data=token.encode("ascii"), headers={"Content-Type": CONTENT_TYPE}, allow_redirects=False
            ) as response:
                status = response.status
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientConnectionError:
            return "connect_failed"
        except aiohttp.ClientError:
            return "transport_error"
        if 200 <= status < 300:
            return None
        return "redirect_refused" if 300 <= status < 400 else f"http_{status}"

    async def _record(self, batch: Batch, claimed: _Claimed, error: str | None, *, final: bool) -> None:
        now = datetime.now(UTC)
        if error is None:
            values: dict[str, Any] = {"state": "delivered", "delivered_at": now, "last_error": None}
            change = "callback_delivered"
        elif final:
            values, change = {"state": "failed", "last_error": error}, "callback_failed"
        else:
            delay = timedelta(seconds=self.schedule.delay_after(claimed.attempt))
            values, change = {"next_attempt_at": now + delay, "last_error": error}, "callback_attempt_failed"
        async with write_transaction(self._database) as connection:
            # Only the holder of this attempt: after its lease ended, the row belongs to the next claim.
            result = cast(
                CursorResult[Any],
                await connection.execute(
                    update(BatchCallback)
                    .where(
                        BatchCallback.batch_id == claimed.batch_id,
                        BatchCallback.state == "pending",
                        BatchCallback.attempts == claimed.attempt,
                    )
                    .values(**values)
                ),
            )
            if result.rowcount:
                await self._audit.append_within(
                    connection,
                    batch_changed(
                        batch.requester,
                        batch.batch_id,
                        batch.batch_ref,
                        batch.purpose,
                        change,
                        attempt=claimed.attempt,
                        reason=error,
                    ),
                )
        if error is not None:
            log.warning("batch callback %s attempt %d: %s", batch.batch_id, claimed.attempt, error)
