"""Consents over HTTP: registration with receipts, search, revocation and the check in the verification flow
(refused before any agency is asked)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from gateway.client import HubClient
from gateway.errors import ConsentMissing, ConsentRevoked
from gateway.sandbox import Sandbox
from tests.integration.helpers import sandbox_document, scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


def agency_requests(sandbox: Sandbox) -> int:
    return sum(agency.faults.total_requests for agency in sandbox.agencies.values())


def registrations(sandbox: Sandbox, household: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """One consent per member; the children's signed by their parent (the household head)."""
    grantee = sandbox_document(sandbox)["members"]["mis"]["id"]
    head = next(m for m in household if m["relation"] == "self")
    evidence = {"sha256": hashlib.sha256(b"scan of the signed form").hexdigest(), "ref": "county/2026/form-77.pdf"}
    consents = []
    for member in household:
        entry: dict[str, Any] = {
            "id_number": member["id_number"],
            "grantee": grantee,
            "purposes": ["dibao.application"],
            "categories": ["hukou", "civil_affairs", "tax", "housing", "banking"],
            "collection_method": "signed_form",
            "evidence": evidence,
            "signed_at": datetime.now(UTC).isoformat(),
        }
        if member["relation"] == "child":
            entry["collection_method"] = "guardian"
            entry["guardian"] = {"id_number": head["id_number"], "relation": "parent"}
        entry.update(changes)
        consents.append(entry)
    return {"consents": consents}


async def test_no_consent_is_refused_before_any_agency_is_asked(sandbox: Sandbox, client: HubClient) -> None:
    scenario = scenario_named(sandbox, "no_consent")
    before = agency_requests(sandbox)
    with pytest.raises(ConsentMissing) as caught:
        await client.verify(verification_request(scenario))
    assert caught.value.extensions["status"] == 403
    assert [m["index"] for m in caught.value.extensions["members"]] == list(range(len(scenario["household"])))
    assert agency_requests(sandbox) == before
    for member in scenario["household"]:
        assert member["id_number"] not in json.dumps(caught.value.extensions)


async def test_register_search_verify_revoke(sandbox: Sandbox, client: HubClient) -> None:
    scenario = scenario_named(sandbox, "no_consent")
    household = scenario["household"]
    registered = await client.post_envelope("/v1/consents", registrations(sandbox, household))
    consents = registered["consents"]
    assert len(consents) == len(household)
    assert all(c["status"] == "active" for c in consents)
    text = json.dumps(registered, ensure_ascii=False)
    for member in household:
        assert member["id_number"] not in text, "identity numbers go in, never out"

    async with httpx.AsyncClient() as http:
        hub_jwks = (await http.get(sandbox_document(sandbox)["hub"]["jwks_url"])).json()
    receipt = cjws.JWS()
    receipt.deserialize(consents[0]["receipt"])
    receipt.verify(cjwk.JWKSet.from_json(json.dumps(hub_jwks)))
    claims = json.loads(receipt.payload)
    assert claims["piiPrincipalId"] == consents[0]["subject_ref"]

    found = await client.post_envelope("/v1/consents/search", {"id_number": household[0]["id_number"]})
    assert [c["consent_id"] for c in found["consents"]] == [consents[0]["consent_id"]]

    before = agency_requests(sandbox)
    report = await client.verify(verification_request(scenario))
    assert sorted(report["consents"]) == sorted(c["consent_id"] for c in consents)
    assert agency_requests(sandbox) > before

    with pytest.raises(ConsentMissing):
        await client.verify(verification_request(scenario, purpose="dibao.review"))

    revoked = await client.post_envelope(
        f"/v1/consents/{consents[1]['consent_id']}/revoke", {"reason": "withdrawn by the guardian at the office"}
    )
    assert revoked["status"] == "revoked"
    before = agency_requests(sandbox)
    with pytest.raises(ConsentRevoked) as caught:
        await client.verify(verification_request(scenario))
    assert caught.value.extensions["members"] == [{"index": 1, "reason": "consent_revoked"}]
    assert agency_requests(sandbox) == before


async def test_consents_need_the_consent_write_scope(sandbox: Sandbox) -> None:
    from gateway.errors import ScopeMissing

    scenario = scenario_named(sandbox, "no_consent")
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="auditor") as auditor:
        with pytest.raises(ScopeMissing):
            await auditor.post_envelope("/v1/consents", registrations(sandbox, scenario["household"]))
