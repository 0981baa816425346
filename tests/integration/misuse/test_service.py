"""Misuse detection over a real audit log (SQLite and PostgreSQL): alerts stored with the cursor, counted in
the metric, posted to a webhook as a JWS the hub signed; the watch list and acknowledgements are audited."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
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
from tests.support import serving_aiohttp

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
    async with serving_aiohttp(app) as base_url:
        hook.url = f"{base_url}/hook"
        yield hook


@pytest.fixture
def signing_keys() -> KeySet:
    private, _ = generate_member_jwks()
    return KeySet.import_key_set(private)


Detections = Callable[..., MisuseDetection]


@pytest.fixture
async def detections(
    database: Database, audit: AuditLog, signing_keys: KeySet
) -> AsyncIterator[Callable[..., MisuseDetection]]:
    """Makes detection services on the test's database (as separate hub processes would run them); each holds
    its leader lock until it is closed, here at the latest."""
    made: list[MisuseDetection] = []
    signing = next(key for key in signing_keys if key.get("use") == "sig")

    def make(url: str | None = None, metrics: HubMetrics | None = None) -> MisuseDetection:
        service = MisuseDetection(
            database,
            audit,
            MemberRegistry(database),
            load_rules(RULES),
            hub_id=DEFAULT_HUB_ID,
            subject_pepper=PEPPER,
            signing_key=lambda: signing,
            metrics=metrics or HubMetrics(),
            webhook_url=url,
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.aclose()


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
    audit: AuditLog, receiver: Receiver, signing_keys: KeySet, detections: Detections
) -> None:
    metrics = HubMetrics()
    service = detections(receiver.url, metrics)
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
    again = detections()
    assert await again.run_once(now=NOON_BEIJING + timedelta(minutes=6)) == []
    assert [a.alert_id for a in await service.alerts()] == [raised[0].alert_id]


async def test_watch_list_and_acknowledgement_are_audited(audit: AuditLog, detections: Detections) -> None:
    service = detections()
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


async def test_an_undeliverable_webhook_does_not_lose_the_alert(audit: AuditLog, detections: Detections) -> None:
    service = detections("http://127.0.0.1:9/unreachable")
    await service.watch(PERSON, username="li")
    await audit.append(request_entry(1, NOON_BEIJING))
    assert len(await service.run_once(now=NOON_BEIJING)) == 1
    assert len(await service.alerts()) == 1


# -- one leader, windows rebuilt by a new one -----------------------------------------------------------


async def test_only_the_leader_evaluates(audit: AuditLog, detections: Detections) -> None:
    first, second = detections(), detections()
    leaves = [await audit.append(refusal(n, NOON_BEIJING + timedelta(minutes=n))) for n in range(3)]
    assert [a.leaf_indices for a in await first.run_once(now=NOON_BEIJING)] == [leaves]
    later = [await audit.append(refusal(3, NOON_BEIJING + timedelta(minutes=3)))]
    assert await second.run_once(now=NOON_BEIJING) == []  # not the leader: the entry waits for the leader
    later += [await audit.append(refusal(n, NOON_BEIJING + timedelta(minutes=n))) for n in (4, 5)]
    assert [a.leaf_indices for a in await first.run_once(now=NOON_BEIJING)] == [later]


async def test_a_new_leader_counts_the_window_its_predecessor_began(audit: AuditLog, detections: Detections) -> None:
    """Two refusals seen by one hub process, the third after it stopped: a window across a restart (or a
    change of leader) is one window, so the third raises the alert naming all three."""
    first = detections()
    leaves = [await audit.append(refusal(n, NOON_BEIJING + timedelta(minutes=n))) for n in range(2)]
    await audit.append(request_entry(1, NOON_BEIJING, people=("110101199003071233",)))  # counted by no rule here
    assert await first.run_once(now=NOON_BEIJING) == []
    await first.aclose()

    second = detections()
    leaves.append(await audit.append(refusal(2, NOON_BEIJING + timedelta(minutes=2))))
    raised = await second.run_once(now=NOON_BEIJING + timedelta(minutes=3))
    assert [(a.rule, a.leaf_indices) for a in raised] == [("consent_refusals", leaves)]


async def test_a_new_leader_does_not_raise_its_predecessors_alerts_again(
    audit: AuditLog, detections: Detections
) -> None:
    first = detections()
    for n in range(3):
        await audit.append(refusal(n, NOON_BEIJING + timedelta(minutes=n)))
    # Three requests never completed: counted as no_completion once their 600 s have passed.
    for n in range(3):
        await audit.append(request_entry(10 + n, NOON_BEIJING + timedelta(minutes=n)))
    raised = await first.run_once(now=NOON_BEIJING + timedelta(minutes=30))
    assert sorted(a.rule for a in raised) == ["consent_refusals", "no_completion"]
    await first.aclose()

    second = detections()
    await audit.append(refusal(3, NOON_BEIJING + timedelta(minutes=31)))  # the count began again after the alert
    assert await second.run_once(now=NOON_BEIJING + timedelta(minutes=40)) == []
    assert len(await second.alerts()) == 2
