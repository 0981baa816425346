"""Misuse detection running in the hub: reads the audit log from a stored cursor, feeds the detector, stores
alerts (with the cursor, in one transaction), counts them in a metric and posts each to a webhook as a compact
JWS signed by the hub. The watch list and alert acknowledgements are changed here, each audited.

One hub process evaluates at a time (gateway/misuse/leader.py): a process that becomes leader (at start-up, or
when the leader stops) first rebuilds every rule's window from the entries within the longest window before
the cursor, so that neither a restart nor several replicas split a window. The cursor still moves by
compare-and-set with the alerts it raised, so an entry is evaluated once even if two processes ever
believed they led.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from joserfc.jwk import Key
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.audit import AlertAcknowledged, AuditLog, WatchListChanged, subject_ref
from gateway.console.models import MisuseAlert, MisuseCursor, WatchedSubject
from gateway.context import HubContext
from gateway.contracts import CONTRACTS_DIR
from gateway.envelope.jwt import sign_jwt
from gateway.errors import Conflict, NotFound
from gateway.members import MemberRegistry
from gateway.metrics import HubMetrics
from gateway.misuse.detector import COUNTED_TYPES, Alert, Detector
from gateway.misuse.leader import LeaderLock, leader_lock
from gateway.misuse.rules import MisuseRules, load_rules
from gateway.store import Database

log = logging.getLogger(__name__)
WEBHOOK_TYP = "hedui-misuse-alert+jwt"
_PAGE = 1000
# Entry times follow leaf order only roughly (concurrent verifications commit in groups): the rebuild reads
# this much further back than the longest window.
_REBUILD_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    alert_id: str
    rule: str
    key: str
    leaf_indices: list[int]
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class MisuseDetection:
    def __init__(
        self,
        database: Database,
        audit: AuditLog,
        members: MemberRegistry,
        rules: MisuseRules,
        *,
        hub_id: str,
        subject_pepper: bytes,
        signing_key: Callable[[], Key],
        metrics: HubMetrics,
        webhook_url: str | None = None,
        interval_s: float = 2.0,
        leader: LeaderLock | None = None,
    ) -> None:
        self._database = database
        self._audit = audit
        self._members = members
        self._rules = rules
        self._hub_id = hub_id
        self._pepper = subject_pepper
        self._signing_key = signing_key
        self._metrics = metrics
        self._webhook_url = webhook_url
        self._interval = interval_s
        self._watch: set[str] = set()
        self._regions: dict[str, str | None] = {}
        self._leader = leader or leader_lock(database)
        # The windows as of leaf ``_fed_until``; None until this process leads (and again once it stops).
        self._detector: Detector | None = None
        self._fed_until = 0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def rules(self) -> MisuseRules:
        return self._rules

    # -- running ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="misuse-detection")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        async with self._lock:
            await self._leader.release()
            self._detector = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # detection must outlive a failed read; the next round retries
                log.warning("misuse detection round failed: %s", type(exc).__name__)
            await asyncio.sleep(self._interval)

    async def run_once(self, now: datetime | None = None) -> list[StoredAlert]:
        """Evaluate every entry after the cursor (and the no-completion deadlines up to ``now``) if this process
        leads; nothing otherwise."""
        async with self._lock:
            if not await self._leader.hold():
                self._detector = None  # another process leads: what this one knew goes stale
                return []
            await self._refresh()
            cursor = await self._cursor()
            if self._detector is None or self._fed_until != cursor:
                self._detector = await self._rebuilt(cursor)
            detector = self._detector
            raised: list[Alert] = []
            position = cursor
            while True:
                batch = await self._audit.search(after=position - 1, limit=_PAGE)
                for item in batch:
                    raised.extend(detector.feed(item.leaf_index, item.entry))
                    position = item.leaf_index + 1
                if len(batch) < _PAGE:
                    break
            raised.extend(detector.tick(now or datetime.now(UTC)))
            stored = [self._row(alert) for alert in raised]
            if not await self._commit(cursor, position, stored):
                self._detector = None  # another process evaluated this range: rebuild from the log next round
                return []
            self._fed_until = position
        for row in stored:
            self._metrics.misuse_alerts.labels(row.rule).inc()
            await self._post(row)
        return [_stored(row) for row in stored]

    async def _rebuilt(self, cursor: int) -> Detector:
        """The windows as a leader that had run all along would hold them at ``cursor``: the counted entries
        within the longest window (and a margin) before it, fed again. Alerts found on the way were raised
        when those entries were first evaluated, so they are dropped; requests already counted as not
        completed (by a stored alert) are not waited for again."""
        detector = Detector(self._rules, watch_list=lambda: self._watch, member_regions=lambda: self._regions)
        self._fed_until = cursor
        last = await self._audit.entries_at([cursor - 1]) if cursor > 0 else []
        if not last:
            return detector
        horizon = (
            datetime.fromisoformat(str(last[0].entry["time"]))
            - timedelta(seconds=detector.longest_window_s)
            - _REBUILD_MARGIN
        )
        position: int | None = None
        reached = False
        while not reached:
            batch = await self._audit.search(types=COUNTED_TYPES, since=horizon, after=position, limit=_PAGE)
            for item in batch:
                if item.leaf_index >= cursor:
                    reached = True
                    break
                detector.feed(item.leaf_index, item.entry)
                position = item.leaf_index
            reached = reached or len(batch) < _PAGE
        no_completion = {rule.id for rule in self._rules.rules if rule.kind == "no_completion"}
        async with self._database.session() as session:
            alerted = await session.execute(
                select(MisuseAlert.leaf_indices).where(
                    MisuseAlert.rule.in_(no_completion), MisuseAlert.raised_at >= horizon
                )
            )
            detector.forget_pending(int(leaf) for leaves in alerted.scalars() for leaf in leaves)
        return detector

    async def _refresh(self) -> None:
        async with self._database.session() as session:
            self._watch = set((await session.execute(select(WatchedSubject.subject_ref))).scalars())
        self._regions = {member.member_id: member.region for member in await self._members.list()}

    async def _cursor(self) -> int:
        async with self._database.session() as session:
            row = await session.get(MisuseCursor, 1)
        return 0 if row is None else row.next_leaf

    async def _commit(self, old: int, new: int, rows: Sequence[MisuseAlert]) -> bool:
        async with self._database.session() as session, session.begin():
            if old == 0:
                dialect = postgresql if self._database.engine.dialect.name == "postgresql" else sqlite
                await session.execute(dialect.insert(MisuseCursor).values(id=1, next_leaf=0).on_conflict_do_nothing())
            moved = await session.execute(
                update(MisuseCursor).where(MisuseCursor.id == 1, MisuseCursor.next_leaf == old).values(next_leaf=new)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return False
            session.add_all(rows)
        return True

    def _row(self, alert: Alert) -> MisuseAlert:
        return MisuseAlert(
            alert_id=str(uuid.uuid4()),
            rule=alert.rule,
            key=alert.key[:200],
            leaf_indices=list(alert.leaf_indices),
            raised_at=datetime.now(UTC),
            acknowledged_by=None,
            acknowledged_at=None,
        )

    async def _post(self, row: MisuseAlert) -> None:
        if not self._webhook_url:
            return
        claims = {
            "iss": self._hub_id,
            "iat": int(row.raised_at.timestamp()),
            "alert_id": row.alert_id,
            "rule": row.rule,
            "key": row.key,
            "leaf_indices": row.leaf_indices,
        }
        token = sign_jwt(claims, self._signing_key(), typ=WEBHOOK_TYP)
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(
                    self._webhook_url, content=token, headers={"Content-Type": "application/jose"}
                )
            response.raise_for_status()
        except httpx.HTTPError as exc:  # the alert is stored and shown; the webhook is best effort
            log.warning("misuse webhook not delivered: %s", type(exc).__name__)

    # -- the console's side ----------------------------------------------------------------------------

    async def alerts(self, limit: int = 100) -> list[StoredAlert]:
        async with self._database.session() as session:
            rows = (
                await session.execute(select(MisuseAlert).order_by(MisuseAlert.raised_at.desc()).limit(limit))
            ).scalars()
            return [_stored(row) for row in rows]

    async def acknowledge(self, alert_id: str, *, username: str) -> None:
        """Mark an alert acknowledged, with its ``alert.acknowledged`` entry in the same transaction."""
        async with self._database.session() as session, session.begin():
            changed = await session.execute(
                update(MisuseAlert)
                .where(MisuseAlert.alert_id == alert_id, MisuseAlert.acknowledged_by.is_(None))
                .values(acknowledged_by=username, acknowledged_at=datetime.now(UTC))
                .returning(MisuseAlert.rule)
            )
            rule = changed.scalar_one_or_none()
            if rule is None:
                exists = await session.get(MisuseAlert, alert_id)
                raise Conflict("the alert is acknowledged already") if exists else NotFound("no such alert")
            await self._audit.append_within(
                session,
                AlertAcknowledged(actor=self._hub_id, operator=f"console:{username}", alert_id=alert_id, rule=rule),
            )

    async def watch(self, id_number: str, *, username: str) -> None:
        """Put a person on the watch list (by subject_ref; :class:`InvalidIdNumber` for a bad number), with its
        ``watchlist.changed`` entry in the same transaction."""
        ref = subject_ref(self._pepper, id_number)
        dialect = postgresql if self._database.engine.dialect.name == "postgresql" else sqlite
        async with self._database.session() as session, session.begin():
            await session.execute(
                dialect.insert(WatchedSubject)
                .values(subject_ref=ref, added_by=username, added_at=datetime.now(UTC))
                .on_conflict_do_nothing()
            )
            await self._audit.append_within(
                session,
                WatchListChanged(
                    actor=self._hub_id, operator=f"console:{username}", subject_refs=(ref,), change="added"
                ),
            )


def _stored(row: MisuseAlert) -> StoredAlert:
    def utc(value: datetime | None) -> datetime | None:
        return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC))

    raised = utc(row.raised_at)
    assert raised is not None
    return StoredAlert(
        row.alert_id,
        row.rule,
        row.key,
        [int(i) for i in row.leaf_indices],
        raised,
        row.acknowledged_by,
        utc(row.acknowledged_at),
    )


def start_detection(hub: HubContext) -> MisuseDetection:
    """Load contracts/misuse-rules.yaml (invalid rules stop the hub) and start evaluating the log."""
    settings = hub.settings
    detection = MisuseDetection(
        hub.database,
        hub.audit,
        hub.members,
        load_rules(CONTRACTS_DIR / "misuse-rules.yaml"),
        hub_id=settings.hub_id,
        subject_pepper=hub.keys.subject_pepper,
        signing_key=lambda: hub.keys.signing_key,
        metrics=hub.metrics,
        webhook_url=settings.misuse_webhook_url,
        interval_s=settings.misuse_interval_s,
    )
    detection.start()
    return detection


def alert_claims(token: str, key_for: Callable[[dict[str, Any]], Key]) -> dict[str, Any]:
    """The claims of a webhook body after checking the hub's signature (for receivers written in Python)."""
    from gateway.envelope.jwt import verify_jwt

    return verify_jwt(token, key_for, typ=WEBHOOK_TYP)
