"""Batch completion callbacks against a real database (SQLite and PostgreSQL) and a real HTTP receiver (an
aiohttp server on 127.0.0.1 standing for the member's system): refused origins, retries with backoff until
accepted, the signature checked with the hub's JWKS by the SDK, every attempt audited, a restart resuming
the schedule, two deliverers sending once, cancelled batches, and nothing about any household sent."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, update

from gateway.audit import AuditLog, LogKey
from gateway.audit.models import AuditEntryRow
from gateway.auth import Caller, PurposeCatalog
from gateway.batch import BatchService, DatabaseQueue
from gateway.batch.callback import CALLBACK_TYPE, CallbackSchedule
from gateway.batch.delivery import CallbackDeliverer
from gateway.batch.models import Batch, BatchCallback
from gateway.client import verify_batch_callback
from gateway.contracts import CONTRACTS_DIR
from gateway.envelope import HubKeys, generate_member_jwks
from gateway.errors import CallbackUrlNotAllowed, NotFound
from gateway.keydir import init_hub_key_dir
from gateway.members import MemberRegistry
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from tests.support import serving_aiohttp

HUB = DEFAULT_HUB_ID
MIS = "CN/GOV/11110101MB12345677/dibao-mis"
OTHER = "CN/GOV/11110101MB2222222J/street-mis"
CALLER = Caller(member_id=MIS, role="local_mis", region="110101", scopes=frozenset({"verify"}))
OTHER_CALLER = Caller(member_id=OTHER, role="local_mis", region="110101", scopes=frozenset({"verify"}))
ID_NUMBERS = ("11010519491231002X", "110108198001010015")
FAST = CallbackSchedule(max_attempts=5, base_delay_s=0.05, max_delay_s=0.2, timeout_s=2.0)


@dataclass
class Receiver:
    """The member's callback endpoint: answers ``failures`` times with 503 (or ``answer``), then 204."""

    failures: int = 0
    answer: int = 503
    delay_s: float = 0.0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (path, content type, body)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.content_type, await request.text()))
        await asyncio.sleep(self.delay_s)
        if len(self.requests) <= self.failures:
            headers = {"Location": f"{self.base_url}/elsewhere"} if 300 <= self.answer < 400 else None
            return web.Response(status=self.answer, headers=headers)
        return web.Response(status=204)

    @property
    def accepted(self) -> list[str]:
        return [body for _, _, body in self.requests[self.failures :]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", state.handle)
    async with serving_aiohttp(app) as base_url:
        state.base_url = base_url
        yield state


@dataclass
class Hub:
    database: Database
    keys: HubKeys
    audit: AuditLog
    members: MemberRegistry
    batches: BatchService
    database_url: str
    deliverers: list[CallbackDeliverer] = field(default_factory=list)

    def deliverer(self, schedule: CallbackSchedule = FAST, *, database: Database | None = None) -> CallbackDeliverer:
        """A deliverer as a worker process runs it (``database``: one of its own, as another process has)."""
        database = database or self.database
        deliverer = CallbackDeliverer(
            self.batches,
            database=database,
            keys=lambda: self.keys,
            audit=self.audit,
            members=MemberRegistry(database),
            hub_id=HUB,
            schedule=schedule,
        )
        self.deliverers.append(deliverer)  # closed at the end (their HTTP sessions)
        return deliverer


@pytest.fixture
async def hub(database_url: str, tmp_path: Path) -> AsyncIterator[Hub]:
    keys = init_hub_key_dir(tmp_path / "keys")
    database = Database(database_url)
    audit = AuditLog(
        database, log_key=LogKey.load(tmp_path / "keys", name="hub.example/audit"), subject_pepper=keys.subject_pepper
    )
    members = MemberRegistry(database)
    for member in (MIS, OTHER):
        await members.add(member, role="local_mis", region="110101", public_jwks=generate_member_jwks()[1])
    batches = BatchService(
        database=database,
        keys=lambda: keys,
        audit=audit,
        members=members,
        purposes=PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"),
        verifications=None,  # type: ignore[arg-type]  # items end through fail() and cancel(): nothing is verified
        queue=DatabaseQueue(database, name="callbacks"),
    )
    hub = Hub(database, keys, audit, members, batches, database_url)
    try:
        yield hub
    finally:
        for deliverer in hub.deliverers:
            await deliverer.aclose()
        await audit.aclose()
        await database.dispose()


def items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "case_id": f"110101-cb-{i:04d}",
            "region": "110101",
            "operator": "staff-0001",
            "household": [{"id_number": ID_NUMBERS[i % 2], "name": "x", "relation": "self"}],
        }
        for i in range(count)
    ]


async def finished_batch(hub: Hub, ref: str, count: int = 2, **callback: Any) -> str:
    """A closed batch whose items all failed (their deliveries exhausted): finished, as a worker leaves it."""
    created = await hub.batches.create(
        CALLER, {"batch_ref": ref, "purpose": "dibao.review", "items": items(count), "close": True, **callback}
    )
    for index in range(count):
        await hub.batches.fail(f"{created['batch_id']}:{index}", "max_attempts")
    return str(created["batch_id"])


async def until_settled(deliverer: CallbackDeliverer, hub: Hub, batch_id: str, bound_s: float = 20.0) -> str:
    """Run rounds until the notification is delivered or failed (bound generous; a few rounds suffice)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    while loop.time() < deadline:
        await deliverer.run_once()
        state = await callback_state(hub, batch_id)
        if state in ("delivered", "failed"):
            return state
        await asyncio.sleep(0.02)
    return await callback_state(hub, batch_id)


async def callback_state(hub: Hub, batch_id: str) -> str:
    async with hub.database.engine.connect() as connection:
        return str(await connection.scalar(select(BatchCallback.state).where(BatchCallback.batch_id == batch_id)))


async def entries_of_type(hub: Hub, entry_type: str) -> list[dict[str, Any]]:
    """The hub's audit entries of one type, in log order."""
    async with hub.database.engine.connect() as connection:
        rows = await connection.execute(
            select(AuditEntryRow.entry).where(AuditEntryRow.entry_type == entry_type).order_by(AuditEntryRow.leaf_index)
        )
        return [json.loads(entry) for (entry,) in rows]


async def callback_entries(hub: Hub, batch_id: str) -> list[dict[str, Any]]:
    entries = await entries_of_type(hub, "batch.changed")
    return [e for e in entries if e["batch_id"] == batch_id and e["change"].startswith("callback_")]


def payload(token: str) -> str:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode("utf-8")


async def test_a_finished_batch_is_notified_once_accepted_after_failed_attempts(hub: Hub, receiver: Receiver) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hedui/batches", audit=hub.audit, actor=HUB)
    receiver.failures = 2
    batch_id = await finished_batch(hub, "notified", callback=True)

    assert await until_settled(hub.deliverer(), hub, batch_id) == "delivered"

    assert len(receiver.requests) == 3 and len(receiver.accepted) == 1
    path, content_type, token = receiver.requests[-1]
    assert (path, content_type) == ("/hedui/batches", "application/jose")
    claims = verify_batch_callback(token, hub.keys.public_jwks(), member_id=MIS, hub_id=HUB)
    assert claims["batch_id"] == batch_id and claims["batch_ref"] == "notified" and claims["state"] == "closed"
    assert claims["counts"]["failed"] == 2 and claims["errors"] == {"max_attempts": 2}
    assert claims["attempt"] == 3
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["typ"] == CALLBACK_TYPE
    # Nothing about a household: no identity number, no case id, no 15-digit run at all.
    for _, _, body in receiver.requests:
        text = payload(body)
        assert not any(number in text for number in ID_NUMBERS)
        assert "110101-cb-" not in text and not re.search(r"[0-9]{15}", text)
    assert [(e["change"], e.get("attempt"), e.get("reason")) for e in await callback_entries(hub, batch_id)] == [
        ("callback_requested", None, None),
        ("callback_attempt_failed", 1, "http_503"),
        ("callback_attempt_failed", 2, "http_503"),
        ("callback_delivered", 3, None),
    ]
    status = await hub.batches.status(CALLER, batch_id)
    assert status["callback"] == {"state": "delivered", "attempts": 3, "last_error": None}
    await hub.deliverer().run_once()
    assert len(receiver.requests) == 3, "a delivered notification is not sent again"


async def test_a_cancelled_batch_is_notified_with_state_cancelled(hub: Hub, receiver: Receiver) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    created = await hub.batches.create(
        CALLER,
        {
            "batch_ref": "cancelled",
            "purpose": "dibao.review",
            "items": items(3),
            "callback_url": f"{receiver.base_url}/hook/batch-42",  # another path on the registered origin
        },
    )
    deliverer = hub.deliverer()
    await deliverer.run_once()
    assert receiver.requests == [], "an open batch is not finished"

    await hub.batches.cancel(CALLER, created["batch_id"])
    assert await until_settled(deliverer, hub, created["batch_id"]) == "delivered"

    [(path, _, token)] = receiver.requests
    assert path == "/hook/batch-42"
    claims = verify_batch_callback(token, hub.keys.public_jwks(), member_id=MIS, hub_id=HUB)
    assert claims["state"] == "cancelled" and claims["counts"]["cancelled"] == 3 and claims["total"] == 3


async def test_a_callback_off_the_registered_origin_is_refused_at_submission(hub: Hub, receiver: Receiver) -> None:
    body = {"purpose": "dibao.review", "items": items(1)}
    with pytest.raises(CallbackUrlNotAllowed, match="no registered callback URL"):
        await hub.batches.create(CALLER, {**body, "batch_ref": "none-registered", "callback": True})
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    port = int(receiver.base_url.rsplit(":", 1)[1])
    for url in (
        f"http://127.0.0.1:{port + 1}/hook",  # another port: another origin
        f"http://localhost:{port}/hook",  # another host name, even for the same address
        f"https://127.0.0.1:{port}/hook",  # another scheme
        "https://mis.example.org/hook",
        f"{receiver.base_url}/hook?token=x",  # a query
    ):
        with pytest.raises(CallbackUrlNotAllowed):
            await hub.batches.create(CALLER, {**body, "batch_ref": "elsewhere", "callback_url": url})
    # Another member's registration does not extend to this one.
    with pytest.raises(CallbackUrlNotAllowed):
        await hub.batches.create(OTHER_CALLER, {**body, "batch_ref": "other", "callback": True})
    async with hub.database.engine.connect() as connection:
        assert await connection.scalar(select(Batch.batch_id)) is None, "a refused batch is not taken"

    plain = await hub.batches.create(CALLER, {**body, "batch_ref": "plain"})  # as before: no callback field
    assert "callback" not in plain


async def test_a_restarted_deliverer_resumes_the_backoff_where_it_was(hub: Hub, receiver: Receiver) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    receiver.failures = 1
    batch_id = await finished_batch(hub, "restarted", callback=True)
    slow = CallbackSchedule(max_attempts=5, base_delay_s=1.0, max_delay_s=1.0, timeout_s=2.0)
    first = hub.deliverer(slow)
    assert await first.run_once() == 1
    await first.aclose()  # the process ends mid-backoff: only the database remembers

    restarted_database = Database(hub.database_url)  # the new process's own connections
    try:
        second = hub.deliverer(slow, database=restarted_database)
        assert await second.run_once() == 0, "the next attempt is not due yet: the backoff holds across restarts"
        assert len(receiver.requests) == 1
        assert await until_settled(second, hub, batch_id) == "delivered"
        await second.aclose()
    finally:
        await restarted_database.dispose()

    assert len(receiver.requests) == 2
    assert [(e["change"], e.get("attempt")) for e in await callback_entries(hub, batch_id)][1:] == [
        ("callback_attempt_failed", 1),
        ("callback_delivered", 2),
    ]


async def test_two_deliverers_send_a_notification_once(hub: Hub, receiver: Receiver) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    receiver.delay_s = 0.3  # both deliverers are in their rounds while the one sending waits for the answer
    batch_id = await finished_batch(hub, "raced", callback=True)
    other_database = Database(hub.database_url)
    try:
        one, two = hub.deliverer(), hub.deliverer(database=other_database)
        for _ in range(5):
            await asyncio.gather(one.run_once(), two.run_once())
        await one.aclose()
        await two.aclose()
    finally:
        await other_database.dispose()

    assert len(receiver.requests) == 1
    assert [e["change"] for e in await callback_entries(hub, batch_id)] == ["callback_requested", "callback_delivered"]


async def test_a_receiver_that_never_accepts_ends_failed_and_redirects_are_not_followed(
    hub: Hub, receiver: Receiver
) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    receiver.failures, receiver.answer = 100, 307
    batch_id = await finished_batch(hub, "refused", callback=True)

    schedule = CallbackSchedule(max_attempts=3, base_delay_s=0.05, max_delay_s=0.1, timeout_s=2.0)
    assert await until_settled(hub.deliverer(schedule), hub, batch_id) == "failed"

    assert [path for path, _, _ in receiver.requests] == ["/hook"] * 3, "the redirect target is never called"
    assert [(e["change"], e.get("reason")) for e in await callback_entries(hub, batch_id)][1:] == [
        ("callback_attempt_failed", "redirect_refused"),
        ("callback_attempt_failed", "redirect_refused"),
        ("callback_failed", "redirect_refused"),
    ]
    assert (await hub.batches.status(CALLER, batch_id))["callback"]["state"] == "failed"


@pytest.mark.parametrize(("answer", "attempts"), [(410, 1), (404, 1), (429, 3), (500, 3)])
async def test_a_refusal_ends_the_callback_at_once_and_a_passing_failure_is_retried(
    hub: Hub, receiver: Receiver, answer: int, attempts: int
) -> None:
    """410 Gone or 404: the receiver refuses this notification, and asking again would only repeat it; 429 or
    500 may pass, so the schedule runs to its last attempt."""
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    receiver.failures, receiver.answer = 100, answer
    batch_id = await finished_batch(hub, f"refused-{answer}", callback=True)

    schedule = CallbackSchedule(max_attempts=3, base_delay_s=0.05, max_delay_s=0.1, timeout_s=2.0)
    assert await until_settled(hub.deliverer(schedule), hub, batch_id) == "failed"

    assert len(receiver.requests) == attempts
    status = (await hub.batches.status(CALLER, batch_id))["callback"]
    assert status == {"state": "failed", "attempts": attempts, "last_error": f"http_{answer}"}
    assert [e["change"] for e in await callback_entries(hub, batch_id)][-1] == "callback_failed"


async def test_a_notification_goes_only_to_the_origin_registered_when_it_is_sent(hub: Hub, receiver: Receiver) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    batch_id = await finished_batch(hub, "moved", callback=True)
    await hub.members.set_callback_url(MIS, "https://mis.example.org/hook", audit=hub.audit, actor=HUB)

    assert await until_settled(hub.deliverer(), hub, batch_id) == "failed"

    assert receiver.requests == []
    assert [(e["change"], e.get("reason")) for e in await callback_entries(hub, batch_id)][1:] == [
        ("callback_failed", "callback_url_not_allowed")
    ]


async def test_registering_a_callback_url_is_audited_with_the_change(hub: Hub) -> None:
    await hub.members.set_callback_url(MIS, "https://mis.example.org/hedui", audit=hub.audit, actor=HUB)
    await hub.members.set_callback_url(MIS, "https://mis.example.org/hedui", audit=hub.audit, actor=HUB)  # no change
    await hub.members.set_callback_url(MIS, None, audit=hub.audit, actor=HUB)
    with pytest.raises(CallbackUrlNotAllowed):
        await hub.members.set_callback_url(MIS, "http://mis.example.org/hedui", audit=hub.audit, actor=HUB)
    with pytest.raises(NotFound):
        await hub.members.set_callback_url(
            "CN/GOV/11510502MB76543212/dibao-mis", "https://x.example.org/", audit=hub.audit, actor=HUB
        )

    entries = await entries_of_type(hub, "member.changed")
    assert [(e["member_id"], e["change"], e.get("callback_url")) for e in entries] == [
        (MIS, "callback_changed", "https://mis.example.org/hedui"),
        (MIS, "callback_changed", None),
    ]
    assert (await MemberRegistry(hub.database).get(MIS)).callback_url is None


async def test_a_last_attempt_whose_deliverer_died_ends_failed_when_its_lease_ends(
    hub: Hub, receiver: Receiver
) -> None:
    await hub.members.set_callback_url(MIS, f"{receiver.base_url}/hook", audit=hub.audit, actor=HUB)
    batch_id = await finished_batch(hub, "lost", callback=True)
    schedule = CallbackSchedule(max_attempts=2, base_delay_s=0.05, max_delay_s=0.1, timeout_s=2.0)
    receiver.failures = 100
    deliverer = hub.deliverer(schedule)
    await deliverer.run_once()  # attempt 1, refused
    assert len(receiver.requests) == 1
    # As if attempt 2 had been claimed by a process that died before recording it, and its lease ended.
    async with hub.database.engine.begin() as connection:
        await connection.execute(
            update(BatchCallback)
            .where(BatchCallback.batch_id == batch_id)
            .values(state="pending", attempts=2, next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    assert await until_settled(deliverer, hub, batch_id) == "failed"

    assert len(receiver.requests) == 1, "no attempt beyond the configured ones"
    assert [(e["change"], e.get("attempt"), e.get("reason")) for e in await callback_entries(hub, batch_id)][-1] == (
        "callback_failed",
        3,
        "max_attempts",
    )
