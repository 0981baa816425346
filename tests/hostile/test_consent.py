"""Consent under attack: a household without consent (refused, audited naming each subject), identity
numbers smuggled into stored free text, and hostile identity numbers in consent bodies."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.hostile.kit import Hostile

pytestmark = pytest.mark.asyncio(loop_scope="session")
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


async def test_a_household_without_consent_is_refused_and_audited_per_subject(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    body = hostile.request_body("no_consent")
    envelope, inner = await hostile.envelope(mis, body)
    response = await hostile.post("/v1/verifications", token, envelope)
    subject = body["household"][0]["id_number"]
    await hostile.expect("consent", response, 403, "consent_missing", audited_jws=inner, subject=subject)


def registration(hostile: Hostile, **changes: Any) -> dict[str, Any]:
    number = hostile.scenarios["clearly_eligible"]["household"][0]["id_number"]
    body: dict[str, Any] = {
        "id_number": number,
        "grantee": hostile.members["mis"].member_id,
        "purposes": ["dibao.review"],
        "categories": ["hukou"],
        "collection_method": "signed_form",
        "evidence": {"sha256": hashlib.sha256(repr(changes).encode()).hexdigest(), "ref": "MIS-110101/2026/7"},
        "signed_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    }
    body.update(changes)
    return {"consents": [body]}


def other_number(hostile: Hostile) -> str:
    number: str = hostile.scenarios["no_consent"]["household"][0]["id_number"]
    return number


@pytest.mark.parametrize(
    "ref",
    [
        "scans/{n}.pdf",
        "scans/{wide}.pdf",
        "{n_lower}",
        "ref {n17}0",  # a wrong check character is someone's number all the same
    ],
    ids=["ascii", "full-width", "lowercase x", "mistyped"],
)
async def test_an_identity_number_in_evidence_ref_is_refused(hostile: Hostile, ref: str) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "consent:write")
    number = other_number(hostile)
    text = ref.format(n=number, wide=number.translate(FULL_WIDTH), n_lower=number.lower(), n17=number[:17])
    body = registration(hostile, evidence={"sha256": "ab" * 32, "ref": text})
    envelope, _ = await hostile.envelope(mis, body)
    response = await hostile.post("/v1/consents", token, envelope)
    await hostile.expect(
        "consent", response, 422, "personal_data_in_text", sent_numbers=(number.translate(FULL_WIDTH),)
    )


async def test_an_identity_number_in_a_revocation_reason_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "consent:write")
    created_envelope, _ = await hostile.envelope(mis, registration(hostile))
    created = await hostile.post("/v1/consents", token, created_envelope)
    await hostile.expect("consent", created, 201, None)
    _, claims = hostile.open_reply(mis, created.text)
    consent_id = claims["body"]["consents"][0]["consent_id"]
    reason = f"requested by {other_number(hostile)}"
    envelope, _ = await hostile.envelope(mis, {"reason": reason})
    response = await hostile.post(f"/v1/consents/{consent_id}/revoke", token, envelope)
    await hostile.expect("consent", response, 422, "personal_data_in_text")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.translate(FULL_WIDTH),
        lambda n: n + "\n",
        lambda n: " " + n,
        lambda n: n[:17] + ("0" if n[17] != "0" else "1"),
    ],
    ids=["full-width", "trailing newline", "leading space", "check character"],
)
async def test_hostile_identity_numbers_in_consent_bodies(hostile: Hostile, mangle: Any) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "consent:write")
    number = mangle(other_number(hostile))
    for path, body in (
        ("/v1/consents", registration(hostile, id_number=number)),
        ("/v1/consents/search", {"id_number": number}),
    ):
        envelope, _ = await hostile.envelope(mis, body)
        response = await hostile.post(path, token, envelope)
        await hostile.expect("consent", response, 422, "invalid_id_number", sent_numbers=(number.strip(),))
