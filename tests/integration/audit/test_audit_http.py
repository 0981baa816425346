"""The audit log over HTTP: verification entries committed before agencies are asked, auditor endpoints
(each call itself audited), proofs checked offline against the signed checkpoint, subject access reports."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from gateway.audit import open_checkpoint
from gateway.audit.rfc9162 import leaf_hash, verify_consistency, verify_inclusion
from gateway.client import HubClient
from gateway.errors import AuditUnavailable, ScopeMissing
from gateway.sandbox import Sandbox
from tests.integration.helpers import scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def auditor_get(sandbox: Sandbox, path: str) -> httpx.Response:
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="auditor") as auditor:
        token = await auditor.access_token()
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        return await http.get(path, headers={"Authorization": f"Bearer {token}"})


def b64(value: str) -> bytes:
    return base64.b64decode(value)


async def test_a_verification_is_logged_and_provable(sandbox: Sandbox, client: HubClient) -> None:
    scenario = scenario_named(sandbox, "clearly_eligible")
    report = await client.verify(verification_request(scenario))
    leaf = report["audit"]["leaf_index"]

    checkpoint = (await auditor_get(sandbox, "/v1/audit/checkpoint")).json()
    signed = open_checkpoint(checkpoint["checkpoint"], checkpoint["verifier_key"])
    if signed.checkpoint.size <= leaf:  # signed before this entry: ask for a fresh one later
        await sandbox.hub.audit.checkpoint()
        checkpoint = (await auditor_get(sandbox, "/v1/audit/checkpoint")).json()
        signed = open_checkpoint(checkpoint["checkpoint"], checkpoint["verifier_key"])
    size = signed.checkpoint.size

    proof = (await auditor_get(sandbox, f"/v1/audit/proofs/inclusion?leaf_index={leaf}&tree_size={size}")).json()
    entry = json.loads(proof["entry"])
    assert entry["type"] == "verification.requested"
    assert entry["verification_id"] == report["verification_id"]
    assert entry["consent_ids"] == report["consents"]
    assert b64(proof["leaf_hash"]) == leaf_hash(proof["entry"].encode())
    verify_inclusion(leaf, size, b64(proof["leaf_hash"]), [b64(p) for p in proof["proof"]], signed.checkpoint.root_hash)
    text = json.dumps(proof, ensure_ascii=False)
    for member in scenario["household"]:
        assert member["id_number"] not in text and member["name"] not in text

    listed = (await auditor_get(sandbox, f"/v1/audit/entries?start={leaf}&end={leaf + 1}")).json()["entries"]
    assert listed[0]["entry"]["request_digest"] == entry["request_digest"]


async def test_consistency_between_two_checkpoints(sandbox: Sandbox, client: HubClient) -> None:
    first = await sandbox.hub.audit.checkpoint() or await sandbox.hub.audit.latest_checkpoint()
    assert first is not None
    await client.verify(verification_request(scenario_named(sandbox, "clearly_eligible")))
    second = await sandbox.hub.audit.checkpoint()
    assert second is not None and second.tree_size > first.tree_size
    proof = (
        await auditor_get(sandbox, f"/v1/audit/proofs/consistency?first={first.tree_size}&second={second.tree_size}")
    ).json()
    verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, [b64(p) for p in proof["proof"]]
    )


async def test_subject_access_report_and_search(sandbox: Sandbox, client: HubClient) -> None:
    scenario = scenario_named(sandbox, "clearly_eligible")
    report = await client.verify(verification_request(scenario))
    person = scenario["household"][1]["id_number"]
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="auditor") as auditor:
        accesses = await auditor.post_envelope("/v1/audit/subject-accesses", {"id_number": person})
        found = await auditor.post_envelope(
            "/v1/audit/search", {"id_number": person, "types": ["verification.completed"], "operator": "aud-7"}
        )
    mine = [a for a in accesses["accesses"] if a.get("verification_id") == report["verification_id"]]
    assert mine, accesses
    access = json.dumps(mine)
    assert "dibao.application" in access
    assert "CN/GOV/11110101MB12345677/dibao-mis" in access
    assert person not in json.dumps(accesses)
    assert any(e["entry"]["verification_id"] == report["verification_id"] for e in found["entries"])

    viewed = await sandbox.hub.audit.search(types=["audit.viewed"], limit=1000)
    views = {e.entry["view"] for e in viewed}
    assert {"subject_report", "search", "checkpoint"} <= views
    assert any(e.entry.get("operator") == "aud-7" for e in viewed)
    assert any(e.entry["subject_refs"] and e.entry["view"] == "subject_report" for e in viewed), (
        "a look-up by person shows in that person's own report"
    )


async def test_refusals_are_logged_too(sandbox: Sandbox, client: HubClient) -> None:
    from gateway.errors import ConsentMissing

    before = await sandbox.hub.audit.tree_size()
    with pytest.raises(ConsentMissing):
        await client.verify(verification_request(scenario_named(sandbox, "no_consent")))
    rejected = await sandbox.hub.audit.search(types=["verification.rejected"], after=before - 1)
    assert [e.entry["reason"] for e in rejected] == ["consent_missing"]


async def test_audit_endpoints_need_audit_read(sandbox: Sandbox, client: HubClient) -> None:
    with pytest.raises(ScopeMissing):
        await client.post_envelope("/v1/audit/search", {"types": ["verification.requested"]})


async def test_no_agency_is_called_when_the_audit_log_cannot_record(tmp_path: Path) -> None:
    box = Sandbox(data_dir=tmp_path / "no-audit", port=0, households=10)
    await box.start()
    try:
        await box.hub.audit.aclose()  # as if its database writes failed
        requests_before = sum(agency.faults.total_requests for agency in box.agencies.values())
        async with HubClient.from_sandbox(box.sandbox_json) as mis:
            with pytest.raises(AuditUnavailable) as caught:
                await mis.verify(verification_request(scenario_named(box, "clearly_eligible")))
        assert caught.value.extensions["status"] == 503
        assert sum(agency.faults.total_requests for agency in box.agencies.values()) == requests_before
    finally:
        await box.stop()
