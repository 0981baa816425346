"""The envelope-free core of the verification flow (``VerificationService.run``), as batch workers call it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from gateway.auth import Caller
from gateway.envelope import JtiClaim
from gateway.errors import AuditUnavailable, ConsentMissing, NotFound, Replayed, RoleNotAllowed
from gateway.sandbox import Sandbox
from tests.integration.helpers import sandbox_document, scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def entries_of(sandbox: Sandbox, verification_id: str) -> list[dict[str, object]]:
    found = await sandbox.hub.audit.search(limit=1000)
    return [item.entry for item in found if item.entry.get("verification_id") == verification_id]


async def test_run_stores_and_audits_like_the_interactive_path(sandbox: Sandbox) -> None:
    item = scenario_named(sandbox, "clearly_eligible")
    member = await sandbox.hub.members.get(sandbox_document(sandbox)["members"][item["member"]]["id"])
    digest = digest_of("batch item 1")
    verification_id, report = await sandbox.hub.verifications.run(
        verification_request(item), member, request_digest=digest
    )
    assert report["verification_id"] == verification_id and report["status"] == "complete"
    assert report["indicators"] == item["expected"]["indicators"]
    caller = Caller(member.member_id, member.role, member.region, frozenset({"verify"}))
    assert await sandbox.hub.verifications.stored_report(caller, verification_id) == report
    types = [entry["type"] for entry in await entries_of(sandbox, verification_id)]
    assert types[0] == "verification.requested" and types[-1] == "verification.completed"
    assert types.count("source.queried") == 5
    requested = (await entries_of(sandbox, verification_id))[0]
    assert requested["request_digest"] == digest and requested["actor"] == member.member_id


async def test_run_refuses_and_audits_like_the_interactive_path(sandbox: Sandbox) -> None:
    doc = sandbox_document(sandbox)
    auditor = await sandbox.hub.members.get(doc["members"]["auditor"]["id"])
    digest = digest_of("batch item 2")
    with pytest.raises(RoleNotAllowed):
        await sandbox.hub.verifications.run(
            verification_request(scenario_named(sandbox, "clearly_eligible")), auditor, request_digest=digest
        )
    refused = await sandbox.hub.audit.search(types=["verification.rejected"], limit=1000)
    assert any(item.entry.get("request_digest") == digest for item in refused)
    no_consent = scenario_named(sandbox, "no_consent")
    member = await sandbox.hub.members.get(doc["members"][no_consent["member"]]["id"])
    with pytest.raises(ConsentMissing):
        await sandbox.hub.verifications.run(
            verification_request(no_consent), member, request_digest=digest_of("batch item 3")
        )


async def test_a_jti_is_claimed_once_whether_the_request_is_refused_before_its_checks_or_at_them(
    sandbox: Sandbox,
) -> None:
    """The jti handed over by the opener (issue 12): a replay is refused as a replay, unaudited, whatever else
    would refuse it; a request refused before its checks uses its jti up too, as when the opener claimed it."""
    doc = sandbox_document(sandbox)
    item = scenario_named(sandbox, "clearly_eligible")
    member = await sandbox.hub.members.get(doc["members"][item["member"]]["id"])
    auditor = await sandbox.hub.members.get(doc["members"]["auditor"]["id"])
    service = sandbox.hub.verifications
    until = datetime.now(UTC) + timedelta(minutes=6)

    async def rejected() -> int:
        return len(await sandbox.hub.audit.search(types=["verification.rejected"], limit=1000))

    refused_claim = JtiClaim(auditor.member_id, "jti-refused-first", until)
    with pytest.raises(RoleNotAllowed):
        await service.run(verification_request(item), auditor, request_digest=digest_of("r1"), jti_claim=refused_claim)
    before = await rejected()
    with pytest.raises(Replayed):
        await service.run(verification_request(item), auditor, request_digest=digest_of("r1"), jti_claim=refused_claim)
    assert await rejected() == before  # a replay is not audited as a rejection

    accepted_claim = JtiClaim(member.member_id, "jti-accepted-first", until)
    await service.run(verification_request(item), member, request_digest=digest_of("r2"), jti_claim=accepted_claim)
    with pytest.raises(Replayed):
        await service.run(verification_request(item), member, request_digest=digest_of("r2"), jti_claim=accepted_claim)
    with pytest.raises(Replayed):  # refused as a replay before its role is looked at
        await service.run(verification_request(item), auditor, request_digest=digest_of("r3"), jti_claim=accepted_claim)
    assert await rejected() == before


async def test_run_needs_a_request_digest(sandbox: Sandbox) -> None:
    item = scenario_named(sandbox, "clearly_eligible")
    member = await sandbox.hub.members.get(sandbox_document(sandbox)["members"][item["member"]]["id"])
    with pytest.raises(ValueError, match="request_digest"):
        await sandbox.hub.verifications.run(verification_request(item), member, request_digest="ABC")


async def test_no_report_without_its_completion_entry_and_a_crash_is_closed_as_abandoned(sandbox: Sandbox) -> None:
    """Issue 11 #8: the completion entry cannot be committed (a fault injected into the database); then no
    report may be readable, and the sweeper closes the verification with ``verification.abandoned``."""
    item = scenario_named(sandbox, "clearly_eligible")
    member = await sandbox.hub.members.get(sandbox_document(sandbox)["members"][item["member"]]["id"])
    caller = Caller(member.member_id, member.role, member.region, frozenset({"verify"}))
    service, engine = sandbox.hub.verifications, sandbox.hub.database.engine
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "CREATE TRIGGER crash_at_completion BEFORE INSERT ON audit_entries "
            "WHEN NEW.entry_type = 'verification.completed' BEGIN SELECT RAISE(ABORT, 'injected crash'); END"
        )
    digest = digest_of("crashing item")
    try:
        with pytest.raises(AuditUnavailable):
            await service.run(verification_request(item), member, request_digest=digest)
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TRIGGER crash_at_completion")
    requested = [
        found
        for found in await sandbox.hub.audit.search(types=["verification.requested"], limit=1000)
        if found.entry["request_digest"] == digest
    ]
    assert len(requested) == 1
    verification_id = str(requested[0].entry["verification_id"])
    with pytest.raises(NotFound):
        await service.stored_report(caller, verification_id)
    assert [entry["type"] for entry in await entries_of(sandbox, verification_id)] == ["verification.requested"]

    assert await service.close_abandoned(older_than_s=600) == 0  # it may still be running
    later = datetime.now(UTC) + timedelta(seconds=601)
    assert await service.close_abandoned(older_than_s=600, now=later) == 1
    entries = await entries_of(sandbox, verification_id)
    assert [entry["type"] for entry in entries] == ["verification.requested", "verification.abandoned"]
    assert entries[1]["requested_leaf"] == requested[0].leaf_index
    assert entries[1]["subject_refs"] == requested[0].entry["subject_refs"]
    assert await service.close_abandoned(older_than_s=600, now=later) == 0
    with pytest.raises(NotFound):
        await service.stored_report(caller, verification_id)
    # The hub goes on: the next verification completes and is readable.
    verification_id, report = await service.run(verification_request(item), member, request_digest=digest)
    assert await service.stored_report(caller, verification_id) == report
