"""The raw exchange of docs/integration.md, done with jwcrypto and plain HTTP only (no Hedui client code), so
that every step the guide shows a Java or other non-Python integrator stays true."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwe, jwk, jws

from gateway.sandbox import Sandbox
from tests.integration.helpers import sandbox_document, scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class RawMember:
    """A local MIS as the guide builds it: its private JWKS file, the hub's published keys, jwcrypto."""

    def __init__(self, sandbox: Sandbox, name: str = "mis") -> None:
        config = sandbox_document(sandbox)
        self.base_url: str = config["base_url"]
        self.hub_id: str = config["hub"]["id"]
        self.member_id: str = config["members"][name]["id"]
        keys = json.loads(Path(sandbox.data_dir / config["members"][name]["private_jwks"]).read_text())["keys"]
        self.signing_key = jwk.JWK(**next(k for k in keys if k["use"] == "sig"))
        self.decryption_keys = {k["kid"]: jwk.JWK(**k) for k in keys if k["use"] == "enc"}
        self.hub_keys: list[dict[str, Any]] = []
        self.seen_jti: set[str] = set()
        self.last_alg: str | None = None  # the JWS alg of the last answer opened

    def signed(self, claims: dict[str, Any], typ: str, alg: str = "Ed25519") -> str:
        token = jws.JWS(json.dumps(claims, ensure_ascii=False).encode("utf-8"))
        header = {"alg": alg, "kid": self.signing_key.thumbprint(), "typ": typ}
        token.add_signature(self.signing_key, protected=json.dumps(header))
        return str(token.serialize(compact=True))

    def assertion(self, token_endpoint: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.member_id,
            "sub": self.member_id,
            "aud": token_endpoint,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        }
        return self.signed(claims, "JWT")

    def seal(self, body: dict[str, Any], alg: str = "Ed25519") -> tuple[str, str]:
        """(compact JWE for the wire, inner JWS kept to check the response's req)."""
        now = int(time.time())
        claims = {"iss": self.member_id, "aud": self.hub_id, "iat": now, "exp": now + 300}
        inner = self.signed({**claims, "jti": str(uuid.uuid4()), "body": body}, "hedui+jwt", alg)
        hub_enc = next(k for k in self.hub_keys if k["use"] == "enc")
        header = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": hub_enc["kid"], "cty": "JWT"}
        outer = jwe.JWE(inner.encode("ascii"), protected=json.dumps(header))
        outer.add_recipient(jwk.JWK(**hub_enc))
        return str(outer.serialize(compact=True)), inner

    def open(self, token: str, request_jws: str | None) -> dict[str, Any]:
        outer = jwe.JWE()
        outer.deserialize(token)
        assert outer.jose_header["cty"] == "JWT"
        outer.decrypt(self.decryption_keys[outer.jose_header["kid"]])
        inner = outer.payload.decode("ascii")
        verified = jws.JWS()
        verified.deserialize(inner)
        header = verified.jose_header
        assert header["typ"] == "hedui+jwt"
        hub_sig = next(k for k in self.hub_keys if k["use"] == "sig" and k["kid"] == header["kid"])
        verified.verify(jwk.JWK(**hub_sig), alg=header["alg"])
        self.last_alg = header["alg"]
        claims: dict[str, Any] = json.loads(verified.payload)
        now = time.time()
        assert claims["iss"] == self.hub_id
        assert claims["aud"] == self.member_id
        assert 0 < claims["exp"] - claims["iat"] <= 300
        assert claims["iat"] <= now + 60 and now < claims["exp"] + 60
        uuid.UUID(claims["jti"])
        assert claims["jti"] not in self.seen_jti
        self.seen_jti.add(claims["jti"])
        if request_jws is None:
            assert "req" not in claims
        else:
            digest = hashlib.sha256(request_jws.encode("ascii")).digest()
            assert claims["req"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return claims


async def discover_and_authenticate(http: httpx.AsyncClient, member: RawMember) -> str:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    member.hub_keys = (await http.get(metadata["jwks_uri"])).json()["keys"]
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": member.assertion(metadata["token_endpoint"]),
    }
    response = await http.post(metadata["token_endpoint"], data=form)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "Bearer"
    assert 0 < answer["expires_in"] <= 300
    assert set(answer["scope"].split()) == {"verify", "consent:write", "registry:write"}
    replayed = await http.post(metadata["token_endpoint"], data=form)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_client")
    return str(answer["access_token"])


async def post_envelope(
    http: httpx.AsyncClient, member: RawMember, token: str, path: str, body: dict[str, Any], alg: str = "Ed25519"
) -> tuple[httpx.Response, str, str]:
    sealed, inner = member.seal(body, alg)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/jose"}
    return await http.post(path, content=sealed, headers=headers), sealed, inner


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
async def test_documented_raw_exchange(sandbox: Sandbox, alg: str) -> None:
    member = RawMember(sandbox)
    async with httpx.AsyncClient(base_url=member.base_url) as http:
        token = await discover_and_authenticate(http, member)
        body = verification_request(scenario_named(sandbox, "clearly_eligible"))
        response, sealed, inner = await post_envelope(http, member, token, "/v1/verifications", body, alg)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/jose"
        report = member.open(response.text, inner)["body"]
        assert member.last_alg == alg  # answered in the caller's name for Ed25519
        assert response.headers["location"] == f"/v1/verifications/{report['verification_id']}"
        assert (report["case_id"], report["status"]) == (body["case_id"], "complete")

        replay = await http.post(
            "/v1/verifications",
            content=sealed,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/jose"},
        )
        assert (replay.status_code, replay.json()["code"]) == (409, "replayed")
        with pytest.raises(AssertionError):
            member.open(response.text, inner)  # a response is accepted once, too

        stored = await http.get(response.headers["location"], headers={"Authorization": f"Bearer {token}"})
        assert stored.status_code == 200
        assert member.open(stored.text, None)["body"] == report
        read, read_jws = member.seal({"verification_id": report["verification_id"]})
        bound = await http.get(
            response.headers["location"], headers={"Authorization": f"Bearer {token}", "Hedui-Envelope": read}
        )
        assert member.open(bound.text, read_jws)["body"] == report

        matches, _, match_jws = await post_envelope(
            http, member, token, "/v1/matches", {"verification_id": report["verification_id"]}
        )
        assert matches.status_code == 200
        assert "dibao" in member.open(matches.text, match_jws)["body"]["programs"]


async def test_documented_consent_and_registry_calls(sandbox: Sandbox) -> None:
    member = RawMember(sandbox)
    household = scenario_named(sandbox, "no_consent")["household"]
    async with httpx.AsyncClient(base_url=member.base_url) as http:
        token = await discover_and_authenticate(http, member)
        body = verification_request(scenario_named(sandbox, "no_consent"))
        refused, _, _ = await post_envelope(http, member, token, "/v1/verifications", body)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "consent_missing"

        common = {
            "grantee": member.member_id,
            "purposes": ["dibao.application"],
            "categories": ["hukou", "civil_affairs", "tax", "housing", "banking"],
            "evidence": {"sha256": hashlib.sha256(uuid.uuid4().bytes).hexdigest(), "ref": "东城区民政局/2026/0124"},
            "signed_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
        }
        head = household[0]["id_number"]
        consents = [dict(common, id_number=head, collection_method="signed_form")]
        consents += [
            dict(
                common,
                id_number=child["id_number"],
                collection_method="guardian",
                guardian={"id_number": head, "relation": "parent"},
            )
            for child in household[1:]
        ]
        registered, _, consent_jws = await post_envelope(http, member, token, "/v1/consents", {"consents": consents})
        assert registered.status_code == 201, registered.text
        views = member.open(registered.text, consent_jws)["body"]["consents"]
        assert [view["status"] for view in views] == ["active"] * len(household)
        assert all(head not in json.dumps(view) for view in views)

        verified, _, verify_jws = await post_envelope(http, member, token, "/v1/verifications", body)
        assert verified.status_code == 201, verified.text
        assert member.open(verified.text, verify_jws)["body"]["status"] == "complete"

        enrollment = {"id_number": head, "programme": "dibao", "region": "110101", "start": "2026-12-01"}
        recorded, _, record_jws = await post_envelope(
            http, member, token, "/v1/registry/enrollments", {**enrollment, "monthly_amount": 1200}
        )
        assert recorded.status_code == 201, recorded.text
        enrollment_id = member.open(recorded.text, record_jws)["body"]["enrollment_id"]
        found, _, search_jws = await post_envelope(
            http, member, token, "/v1/registry/enrollments/search", {"id_number": head}
        )
        listed = member.open(found.text, search_jws)["body"]["enrollments"]
        assert enrollment_id in [item["enrollment_id"] for item in listed]
        ended, _, end_jws = await post_envelope(
            http, member, token, f"/v1/registry/enrollments/{enrollment_id}/end", {"end": "2027-05-31"}
        )
        assert member.open(ended.text, end_jws)["body"]["end"] == "2027-05-31"


async def test_documented_problem_responses(sandbox: Sandbox) -> None:
    member = RawMember(sandbox)
    async with httpx.AsyncClient(base_url=member.base_url) as http:
        token = await discover_and_authenticate(http, member)
        no_token = await http.post("/v1/verifications", content=b"x", headers={"Content-Type": "application/jose"})
        assert (no_token.status_code, no_token.json()["code"]) == (401, "invalid_token")
        assert no_token.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        json_body = await http.post("/v1/verifications", json={}, headers={"Authorization": f"Bearer {token}"})
        assert (json_body.status_code, json_body.json()["code"]) == (415, "unsupported_media_type")
        item = scenario_named(sandbox, "clearly_eligible")
        outside, _, _ = await post_envelope(
            http, member, token, "/v1/verifications", verification_request(item, region="510502")
        )
        assert (outside.status_code, outside.json()["code"]) == (403, "region_not_allowed")
        assert outside.headers["content-type"] == "application/problem+json"
