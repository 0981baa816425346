"""Authorisation under attack: another region, an unknown purpose, a category outside the purpose, the wrong
role or scope, another member's report. Refusals of a verification request are audited (found by the
request's digest) and never echo an identity number."""

from __future__ import annotations

import pytest

from tests.hostile.kit import Hostile

pytestmark = pytest.mark.asyncio(loop_scope="session")
PATH = "/v1/verifications"


@pytest.mark.parametrize(
    ("scenario", "changes", "code"),
    [
        ("clearly_eligible", {"region": "510502"}, "region_not_allowed"),
        ("clearly_eligible", {"region": "110102"}, "region_not_allowed"),  # a neighbouring county
        ("clearly_eligible", {"purpose": "tax.collection"}, "purpose_not_allowed"),
        ("clearly_eligible", {"purpose": "temporary_assistance.application", "categories": ["banking"]}, None),
    ],
    ids=["other province", "other county", "unknown purpose", "category outside the purpose"],
)
async def test_refusals_are_403_and_audited(
    hostile: Hostile, scenario: str, changes: dict[str, object], code: str | None
) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    envelope, inner = await hostile.envelope(mis, hostile.request_body(scenario, **changes))
    response = await hostile.post(PATH, token, envelope)
    await hostile.expect("authorisation", response, 403, code or "category_not_allowed", audited_jws=inner)


async def test_another_members_household_in_another_region(hostile: Hostile) -> None:
    """mis (110101) asks about a household of 510502 under that region's code: refused and audited."""
    mis = hostile.members["mis"]
    other = next(s for s in hostile.scenarios.values() if s["region"] == "510502")
    token = await hostile.token(mis, "verify")
    envelope, inner = await hostile.envelope(mis, hostile.request_body(other["name"]))
    response = await hostile.post(PATH, token, envelope)
    await hostile.expect("authorisation", response, 403, "region_not_allowed", audited_jws=inner)


@pytest.mark.parametrize(("member", "scope"), [("mis", "consent:write"), ("auditor", None)])
async def test_a_token_without_the_verify_scope(hostile: Hostile, member: str, scope: str | None) -> None:
    token = await hostile.token(hostile.members[member], scope)
    envelope, _ = await hostile.envelope(hostile.members[member], hostile.request_body())
    await hostile.expect("authorisation", await hostile.post(PATH, token, envelope), 403, "scope_missing")


async def test_another_members_report_is_not_found(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    envelope, _ = await hostile.envelope(mis, hostile.request_body())
    created = await hostile.post(PATH, token, envelope)
    await hostile.expect("authorisation", created, 201, None)
    location = created.headers["location"]
    own = await hostile.http.get(f"{hostile.base_url}{location}", headers={"authorization": f"Bearer {token}"})
    await hostile.expect("authorisation", own, 200, None)
    other_token = await hostile.token(hostile.members["mis_510502"], "verify")
    other = await hostile.http.get(f"{hostile.base_url}{location}", headers={"authorization": f"Bearer {other_token}"})
    await hostile.expect("authorisation", other, 404, "not_found")
    # Nor through the programme match of that verification.
    verification_id = location.rsplit("/", 1)[1]
    match, _ = await hostile.envelope(hostile.members["mis_510502"], {"verification_id": verification_id})
    await hostile.expect("authorisation", await hostile.post("/v1/matches", other_token, match), 404, "not_found")


async def test_the_audit_log_is_for_auditors_only(hostile: Hostile) -> None:
    token = await hostile.token(hostile.members["mis"], None)
    response = await hostile.http.get(
        f"{hostile.base_url}/v1/audit/checkpoint", headers={"authorization": f"Bearer {token}"}
    )
    await hostile.expect("authorisation", response, 403, "scope_missing")
