"""Policies over the hub's real HTTP path: each scenario household's report carries the decision its stored
expectation names, and ``POST /v1/matches`` lists the programmes it qualifies for."""

from __future__ import annotations

import pytest

from gateway.client import HubClient
from gateway.sandbox import Sandbox
from tests.integration.helpers import sandbox_document, scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_scenario_gets_its_expected_decision_flags_and_programmes(sandbox: Sandbox) -> None:
    checked = []
    for scenario in sandbox_document(sandbox)["scenarios"]:
        if scenario["name"] == "no_consent":
            continue  # refused before any agency is asked: tests/integration/consent
        expected = scenario["expected"]
        async with HubClient.from_sandbox(sandbox.sandbox_json, member=scenario["member"]) as regional:
            report = await regional.verify(verification_request(scenario))
            matched = await regional.post_envelope("/v1/matches", {"verification_id": report["verification_id"]})
        name = scenario["name"]
        assert report["status"] == "complete", name
        assert sorted(report["flags"]) == sorted(expected["flags"]), name
        assert report["decision"]["recommendation"] == expected["recommendation"], name
        assert report["policy"] == {"id": f"{scenario['region']}/dibao", "version": "2024-07"}, name
        for rule in report["decision"]["rules"]:
            assert {"id", "passed", "value", "threshold", "explanation"} <= set(rule), name
            assert rule["explanation"]["zh"] and rule["explanation"]["en"], name
        assert matched["programs"] == expected["programs"], name
        checked.append(name)
    assert len(checked) >= 10


async def test_a_report_missing_a_source_gives_review(sandbox: Sandbox, client: HubClient) -> None:
    tax = sandbox.agencies["tax"].faults
    tax.settings.hang_rate = 1.0
    try:
        report = await client.verify(verification_request(scenario_named(sandbox, "clearly_eligible")))
    finally:
        tax.settings.hang_rate = 0.0
    assert report["status"] == "partial"
    assert report["decision"]["recommendation"] == "review"
    undecided = {rule["id"] for rule in report["decision"]["rules"] if rule["passed"] is None}
    assert undecided == {"income.below_standard", "business.registered_capital"}


async def test_duplicate_enrollment_names_the_other_region(sandbox: Sandbox) -> None:
    scenario = scenario_named(sandbox, "enrolled_elsewhere")
    async with HubClient.from_sandbox(sandbox.sandbox_json, member=scenario["member"]) as mis:
        report = await mis.verify(verification_request(scenario))
    assert "duplicate_enrollment" in report["flags"]
    assert [(d["programme"], d["region"]) for d in report["duplicates"]] == [("dibao", "510502")]
    assert all("id_number" not in d for d in report["duplicates"])


async def test_matches_of_another_members_verification_are_not_found(sandbox: Sandbox, client: HubClient) -> None:
    from gateway.errors import NotFound

    report = await client.verify(verification_request(scenario_named(sandbox, "clearly_eligible")))
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="mis_510502") as other:
        with pytest.raises(NotFound):
            await other.post_envelope("/v1/matches", {"verification_id": report["verification_id"]})
