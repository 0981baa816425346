"""Misuse detection over a real audit log (SQLite and PostgreSQL): alerts stored with the cursor, counted in
the metric, posted to a webhook as a JWS the hub signed; the watch list and acknowledgements are audited."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from joserfc.jwk import KeySet

from gateway.audit import AuditLog, VerificationRejected, VerificationRequested, subject_ref
from gateway.envelope import generate_member_jwks
from gateway.errors import Conflict, InvalidIdNumber
from gateway.members import MemberRegistry
from gateway.metrics import HubMetrics
from gateway.misuse import MisuseDetection, alert_claims, load_rules
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database

RULES = Path(__file__).resolve().parents[3] / "contracts" / "misuse-rules.yaml"
MIS = "CN/GOV/11110101MB12345677/dibao-mis"
PERSON = "11010519491231002X"
PEPPER = b"p" * 32
NOON_BEIJING = datetime(2026, 7, 7, 4, 0, tzinfo=UTC)


class Receiver:
    """A webhook receiver on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.bodies: asyncio.Queue[str] = asyncio.Queue()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/jose"
        await self.bodies.put(await request.text())
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@pytest.fixture
def signing_keys() -> KeySet:
    private, _ = generate_member_jwks()
    return KeySet.import_key_set(private)


def detection(
    database: Database, audit: AuditLog, keys: KeySet, url: str | None, metrics: HubMetrics
) -> MisuseDetection:
    signing = next(key for key in keys if key.get("use") == "sig")
    return MisuseDetection(
        database,
        audit,
        MemberRegistry(database),
        load_rules(RULES),
        hub_id=DEFAULT_HUB_ID,
        subject_pepper=PEPPER,
        signing_key=lambda: signing,
        metrics=metrics,
        webhook_url=url,
    )


def request_entry(n: int, at: datetime, people: tuple[str, ...] = (PERSON,)) -> VerificationRequested:
    return VerificationRequested(
        time=at,
        actor=MIS,
        operator="staff-1",
        verification_id=f"v-{n}",
        case_id=f"110101-2026-{n:06d}",
        purpose="dibao.application",
        region="110101",
        subject_refs=[subject_ref(PEPPER, p) for p in people],
        categories=["hukou"],
        request_digest=hashlib.sha256(str(n).encode()).hexdigest(),
    )


def refusal(n: int, at: datetime) -> VerificationRejected:
    return VerificationRejected(time=at, actor=MIS, operator="staff-1", reason="consent_missing")


async def test_rules_raise_stored_alerts_posted_as_signed_webhooks(
    database: Database, audit: AuditLog, receiver: Receiver, signing_keys: KeySet
) -> None:
    metrics = HubMetrics()
    service = detection(database, audit, signing_keys, receiver.url, metrics)
    leaves = [await audit.append(refusal(n, NOON_BEIJING + timedelta(minutes=n))) for n in range(3)]
    raised = await service.run_once(now=NOON_BEIJING + timedelta(minutes=5))
    assert [(a.rule, a.leaf_indices) for a in raised] == [("consent_refusals", leaves)]
    assert metrics.misuse_alerts.labels("consent_refusals")._value.get() == 1
    body = await asyncio.wait_for(receiver.bodies.get(), timeout=30)
    claims = alert_claims(body, lambda header: next(k for k in signing_keys if k.kid == header["kid"]))
    assert claims["alert_id"] == raised[0].alert_id and claims["leaf_indices"] == leaves
    assert claims["iss"] == DEFAULT_HUB_ID
    # The cursor moved: the same entries raise nothing again, in this process or a new one.
    assert await service.run_once(now=NOON_BEIJING + timedelta(minutes=6)) == []
    again = detection(database, audit, signing_keys, None, HubMetrics())
    assert await again.run_once(now=NOON_BEIJING + timedelta(minutes=6)) == []
    assert [a.alert_id for a in await service.alerts()] == [raised[0].alert_id]


async def test_watch_list_and_acknowledgement_are_audited(
    database: Database, audit: AuditLog, signing_keys: KeySet
) -> None:
    service = detection(database, audit, signing_keys, None, HubMetrics())
    with pytest.raises(InvalidIdNumber):
        await service.watch("110101199003071234", username="li")
    await service.watch(PERSON, username="li")
    leaf = await audit.append(request_entry(1, NOON_BEIJING))
    await audit.append(request_entry(2, NOON_BEIJING, people=("110101199003071233",)))
    raised = await service.run_once(now=NOON_BEIJING)
    assert [(a.rule, a.leaf_indices) for a in raised] == [("watch_list", [leaf])]
    await service.acknowledge(raised[0].alert_id, username="li")
    with pytest.raises(Conflict):
        await service.acknowledge(raised[0].alert_id, username="li")
    stored = (await service.alerts())[0]
    assert stored.acknowledged_by == "li" and stored.acknowledged_at is not None
    entries = [e.entry for e in await audit.search(types=["watchlist.changed", "alert.acknowledged"])]
    assert [(e["type"], e["operator"]) for e in entries] == [
        ("watchlist.changed", "console:li"),
        ("alert.acknowledged", "console:li"),
    ]
    assert entries[0]["subject_refs"] == [subject_ref(PEPPER, PERSON)]


async def test_an_undeliverable_webhook_does_not_lose_the_alert(
    database: Database, audit: AuditLog, signing_keys: KeySet
) -> None:
    service = detection(database, audit, signing_keys, "http://127.0.0.1:9/unreachable", HubMetrics())
    await service.watch(PERSON, username="li")
    await audit.append(request_entry(1, NOON_BEIJING))
    assert len(await service.run_once(now=NOON_BEIJING)) == 1
    assert len(await service.alerts()) == 1
