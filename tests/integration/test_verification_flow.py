"""The hub's whole path over real HTTP: sandbox (hub + five simulated agencies), HubClient, envelopes."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.client import HubClient
from gateway.envelope import load_jwks, private_signing_key, seal
from gateway.errors import InvalidIdNumber, NotFound, ScopeMissing
from gateway.sandbox import Sandbox
from tests.integration.helpers import sandbox_document, scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


document = sandbox_document
scenario = scenario_named
request_for = verification_request


async def test_sandbox_json_describes_a_reachable_sandbox(sandbox: Sandbox) -> None:
    doc = document(sandbox)
    assert set(doc["agencies"]) == {"hukou", "civil_affairs", "tax", "housing", "banking"}
    assert {"mis", "auditor"} <= set(doc["members"])
    private = load_jwks(sandbox.data_dir / doc["members"]["mis"]["private_jwks"])
    assert private_signing_key(private) is not None
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(doc["hub"]["jwks_url"])).json()
    assert {key["use"] for key in jwks["keys"]} >= {"sig", "enc"}
    assert all("d" not in key for key in jwks["keys"])


async def test_every_scenario_matches_its_stored_indicators(sandbox: Sandbox, client: HubClient) -> None:
    scenarios = document(sandbox)["scenarios"]
    assert len(scenarios) >= 10
    assert {item["member"] for item in scenarios} == {"mis", "mis_510502", "mis_450902"}
    for item in scenarios:
        if item["name"] == "no_consent":
            continue  # refused before any agency is asked: tests/integration/consent/test_consent_http.py
        async with HubClient.from_sandbox(sandbox.sandbox_json, member=item["member"]) as regional:
            report = await regional.verify(request_for(item))
        assert report["status"] == "complete", item["name"]
        assert report["indicators"] == item["expected"]["indicators"], item["name"]
        assert [s["status"] for s in report["sources"]] == ["ok"] * 5


async def test_stored_report_is_readable_by_its_requester_only(sandbox: Sandbox, client: HubClient) -> None:
    report = await client.verify(request_for(scenario(sandbox, "clearly_eligible")))
    again = await client.get_verification(report["verification_id"])
    assert again == report
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="mis_510502") as other:
        with pytest.raises(NotFound):
            await other.get_verification(report["verification_id"])
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="auditor") as auditor:
        with pytest.raises(ScopeMissing):
            await auditor.get_verification(report["verification_id"])


async def test_invalid_identity_number_is_422_without_echo(sandbox: Sandbox, client: HubClient) -> None:
    item = scenario(sandbox, "clearly_eligible")
    bad = item["household"][0]["id_number"][:17] + ("0" if item["household"][0]["id_number"][17] != "0" else "1")
    household = [dict(item["household"][0], id_number=bad), *item["household"][1:]]
    with pytest.raises(InvalidIdNumber) as caught:
        await client.verify(request_for(item, household=household))
    assert caught.value.extensions["status"] == 422
    assert bad not in json.dumps(caught.value.extensions) and bad not in caught.value.detail


async def test_timed_out_agency_yields_partial(sandbox: Sandbox, client: HubClient) -> None:
    tax = sandbox.agencies["tax"].faults
    tax.settings.hang_rate = 1.0
    try:
        # The agency never answers: only the hub's 1 s source deadline can end this verification.
        report = await client.verify(request_for(scenario(sandbox, "clearly_eligible")))
    finally:
        tax.settings.hang_rate = 0.0
    statuses = {s["adapter"]: s["status"] for s in report["sources"]}
    assert report["status"] == "partial"
    assert statuses.pop("tax") == "timeout"
    assert set(statuses.values()) == {"ok"}
    assert report["indicators"]["monthly_income_total"] is None
    assert report["indicators"]["financial_assets_total"] is not None


# -- envelope failures over HTTP ------------------------------------------------------------------------


def mis_keys(sandbox: Sandbox) -> tuple[str, Any, Any]:
    doc = document(sandbox)
    jwks = load_jwks(sandbox.data_dir / doc["members"]["mis"]["private_jwks"])
    return doc["members"]["mis"]["id"], private_signing_key(jwks), jwks


async def post_envelope(sandbox: Sandbox, token: str | bytes, member: str = "mis") -> httpx.Response:
    """POST a hand-made envelope with a valid bearer token of ``member``."""
    async with HubClient.from_sandbox(sandbox.sandbox_json, member=member) as hub_client:
        bearer = await hub_client.access_token()
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        return await http.post(
            "/v1/verifications",
            content=token,
            headers={"Content-Type": "application/jose", "Authorization": f"Bearer {bearer}"},
        )


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("expired", 401, "expired"),
        ("wrong_audience", 401, "wrong_audience"),
        ("unknown_key", 401, "signature_invalid"),
        ("garbage", 400, "envelope_invalid"),
    ],
)
async def test_envelope_failures_have_problem_codes(sandbox: Sandbox, case: str, status: int, code: str) -> None:
    from gateway.envelope import generate_member_jwks

    member_id, signing_key, _ = mis_keys(sandbox)
    body = request_for(scenario(sandbox, "clearly_eligible"))
    audience = sandbox.hub.settings.hub_id
    now: float | None = None
    if case == "expired":
        now = time.time() - 1000
    elif case == "wrong_audience":
        audience = "CN/GOV/11510502MB76543212/dibao-mis"
    elif case == "unknown_key":
        signing_key = private_signing_key(load_jwks(generate_member_jwks()[0]))
    token = (
        "not.a.jwe.at-all"
        if case == "garbage"
        else seal(
            body,
            issuer=member_id,
            audience=audience,
            signing_key=signing_key,
            recipient_key=sandbox.hub.keys.encryption_key,
            now=now,
        ).token
    )
    response = await post_envelope(sandbox, token)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status
    for member in body["household"]:
        assert member["id_number"] not in response.text


async def test_replayed_envelope_is_409(sandbox: Sandbox) -> None:
    member_id, signing_key, _ = mis_keys(sandbox)
    sealed = seal(
        request_for(scenario(sandbox, "clearly_eligible")),
        issuer=member_id,
        audience=sandbox.hub.settings.hub_id,
        signing_key=signing_key,
        recipient_key=sandbox.hub.keys.encryption_key,
    )
    assert (await post_envelope(sandbox, sealed.token)).status_code == 201
    replay = await post_envelope(sandbox, sealed.token)
    assert (replay.status_code, replay.json()["code"]) == (409, "replayed")


async def test_wrong_media_type_is_415(sandbox: Sandbox, client: HubClient) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        response = await http.post(
            "/v1/verifications",
            json={"case_id": "x"},
            headers={"Authorization": f"Bearer {await client.access_token()}"},
        )
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")


async def test_metrics_and_health(sandbox: Sandbox, client: HubClient) -> None:
    await client.verify(request_for(scenario(sandbox, "clearly_eligible")))
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        metrics = (await http.get("/metrics")).text
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = (await http.get("/readyz")).json()
    assert ready["status"] == "ready" and all(ready["sources"].values())
    assert 'hedui_verifications_total{purpose="dibao.application",status="complete"}' in metrics
    assert "hedui_source_seconds_bucket" in metrics
    for item in document(sandbox)["scenarios"]:
        for member in item["household"]:
            assert member["id_number"] not in metrics


async def test_private_jwks_file_is_owner_only(sandbox: Sandbox) -> None:
    path = Path(sandbox.data_dir) / document(sandbox)["members"]["mis"]["private_jwks"]
    assert path.stat().st_mode & 0o077 == 0


# -- another JOSE library end to end ----------------------------------------------------------------------


async def test_a_jwcrypto_client_is_served_and_can_open_the_answer(sandbox: Sandbox) -> None:
    """A local MIS on another stack (here jwcrypto, standing in for nimbus-jose-jwt) builds the nested JWT of
    docs/architecture.md §4 itself; the hub accepts it and the sealed report opens and verifies with the same
    library."""
    import base64
    import hashlib

    from jwcrypto import jwe as cjwe
    from jwcrypto import jwk as cjwk
    from jwcrypto import jws as cjws

    doc = document(sandbox)
    private = json.loads((sandbox.data_dir / doc["members"]["mis"]["private_jwks"]).read_text())
    signer = cjwk.JWK(**next(k for k in private["keys"] if k["use"] == "sig"))
    decrypter = cjwk.JWK(**next(k for k in private["keys"] if k["use"] == "enc"))
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        hub_jwks = (await http.get("/.well-known/jwks.json")).json()
    hub_enc = cjwk.JWK(**next(k for k in hub_jwks["keys"] if k["use"] == "enc"))
    hub_sig = cjwk.JWK(**next(k for k in hub_jwks["keys"] if k["use"] == "sig"))

    now = int(time.time())
    claims = {
        "iss": doc["members"]["mis"]["id"],
        "aud": doc["hub"]["id"],
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
        "body": request_for(scenario(sandbox, "clearly_eligible")),
    }
    inner = cjws.JWS(json.dumps(claims).encode())
    inner.add_signature(signer, alg="EdDSA", protected={"alg": "EdDSA", "kid": signer.thumbprint(), "typ": "hedui+jwt"})
    request_jws = inner.serialize(compact=True)
    outer = cjwe.JWE(
        request_jws.encode(),
        protected={"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": hub_enc.thumbprint(), "cty": "JWT"},
    )
    outer.add_recipient(hub_enc)
    response = await post_envelope(sandbox, outer.serialize(compact=True))
    assert response.status_code == 201, response.text

    answer = cjwe.JWE()
    answer.deserialize(response.text, key=decrypter)
    verified = cjws.JWS()
    verified.deserialize(answer.payload.decode(), key=hub_sig)
    payload = json.loads(verified.payload)
    expected_binding = base64.urlsafe_b64encode(hashlib.sha256(request_jws.encode()).digest()).rstrip(b"=")
    assert payload["req"] == expected_binding.decode()
    assert payload["aud"] == claims["iss"]
    assert payload["body"]["status"] == "complete"
    assert payload["body"]["indicators"] == scenario(sandbox, "clearly_eligible")["expected"]["indicators"]
