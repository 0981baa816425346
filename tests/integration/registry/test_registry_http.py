"""The beneficiary registry over HTTP, and the duplicate flag it raises in verifications across regions."""

from __future__ import annotations

import json

import pytest

from gateway.client import HubClient
from gateway.errors import EnrollmentNotOwned
from gateway.sandbox import Sandbox
from tests.integration.helpers import scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_record_search_end_and_the_duplicate_flag(sandbox: Sandbox, client: HubClient) -> None:
    scenario = scenario_named(sandbox, "clearly_eligible")
    person = scenario["household"][0]["id_number"]
    before = await client.verify(verification_request(scenario))
    assert "duplicate_enrollment" not in before["flags"]

    async with HubClient.from_sandbox(sandbox.sandbox_json, member="mis_510502") as luzhou:
        recorded = await luzhou.post_envelope(
            "/v1/registry/enrollments",
            {
                "id_number": person,
                "programme": "dibao",
                "region": "510502",
                "start": "2026-01-01",
                "monthly_amount": 788,
            },
        )
        assert person not in json.dumps(recorded)
        found = await client.post_envelope("/v1/registry/enrollments/search", {"id_number": person})
        assert [(e["programme"], e["region"]) for e in found["enrollments"]] == [("dibao", "510502")]

        flagged = await client.verify(verification_request(scenario))
        assert "duplicate_enrollment" in flagged["flags"]
        assert flagged["decision"]["recommendation"] == "review"
        assert flagged["duplicates"][0]["household_index"] == 0

        with pytest.raises(EnrollmentNotOwned):
            await client.post_envelope(
                f"/v1/registry/enrollments/{recorded['enrollment_id']}/end", {"end": "2026-02-28"}
            )
        ended = await luzhou.post_envelope(
            f"/v1/registry/enrollments/{recorded['enrollment_id']}/end", {"end": "2026-02-28"}
        )
        assert ended["end"] == "2026-02-28"

    after = await client.verify(verification_request(scenario))
    assert "duplicate_enrollment" not in after["flags"]
