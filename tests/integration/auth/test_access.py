"""OAuth2 (private_key_jwt, RFC 9068 tokens), authorisation codes, federation metadata, key rotation and an
external issuer, over real HTTP against the sandbox."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from gateway.auth import CLIENT_ASSERTION_TYPE, client_assertion
from gateway.client import HubClient
from gateway.envelope import (
    generate_member_jwks,
    load_jwks,
    private_signing_key,
    retire_key,
    rotate_key_dir,
    seal,
)
from gateway.envelope.jwt import sign_jwt
from gateway.errors import (
    CategoryNotAllowed,
    ConsentMissing,
    InvalidClient,
    InvalidScope,
    PurposeNotAllowed,
    RegionNotAllowed,
    ScopeMissing,
)
from gateway.sandbox import Sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    box = Sandbox(data_dir=tmp_path_factory.mktemp("access"), port=0, households=20)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()


def doc(sandbox: Sandbox) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sandbox.sandbox_json.read_text(encoding="utf-8"))
    return loaded


def member_key(sandbox: Sandbox, member: str) -> Any:
    return private_signing_key(load_jwks(sandbox.data_dir / doc(sandbox)["members"][member]["private_jwks"]))


def scenario(sandbox: Sandbox, name: str = "clearly_eligible") -> dict[str, Any]:
    return next(s for s in doc(sandbox)["scenarios"] if s["name"] == name)


def body(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    item = scenario(sandbox)
    request = {
        "case_id": f"case-{uuid.uuid4().hex[:8]}",
        "purpose": item["purpose"],
        "region": item["region"],
        "operator": "staff-7",
        "household": item["household"],
    }
    request.update(changes)
    return request


async def token_request(sandbox: Sandbox, form: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        return await http.post("/oauth2/token", data=form)


def assertion_form(sandbox: Sandbox, member: str = "mis", **claims: Any) -> dict[str, str]:
    member_id = doc(sandbox)["members"][member]["id"]
    endpoint = f"{sandbox.base_url}/oauth2/token"
    if claims:
        now = int(time.time())
        values = {
            "iss": member_id,
            "sub": member_id,
            "aud": endpoint,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        }
        values.update(claims)
        assertion = sign_jwt({k: v for k, v in values.items() if v is not None}, member_key(sandbox, member), typ="JWT")
    else:
        assertion = client_assertion(member_id, member_key(sandbox, member), endpoint)
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
    }


async def test_token_is_an_rfc9068_jwt_with_the_role_scopes(sandbox: Sandbox) -> None:
    response = await token_request(sandbox, assertion_form(sandbox))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] <= 300
    assert set(answer["scope"].split()) == {"verify", "consent:write", "registry:write"}
    async with httpx.AsyncClient() as http:
        hub_jwks = (await http.get(doc(sandbox)["hub"]["jwks_url"])).json()
    verified = cjws.JWS()
    verified.deserialize(answer["access_token"])
    verified.verify(cjwk.JWKSet.from_json(json.dumps(hub_jwks)))
    assert verified.jose_header["typ"] == "at+jwt"
    claims = json.loads(verified.payload)
    assert claims["sub"] == claims["client_id"] == doc(sandbox)["members"]["mis"]["id"]
    assert claims["iss"] == sandbox.base_url
    assert claims["exp"] - claims["iat"] <= 300


async def test_authorization_server_metadata_is_valid_rfc8414(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("grant_type", 400, "unsupported_grant_type"),
        ("no_assertion", 401, "invalid_client"),
        ("wrong_audience", 401, "invalid_client"),
        ("expired", 401, "invalid_client"),
        ("sub_differs", 401, "invalid_client"),
        ("unknown_member", 401, "invalid_client"),
        ("client_id_differs", 401, "invalid_client"),
        ("replayed", 401, "invalid_client"),
        ("scope", 400, "invalid_scope"),
        ("repeated_parameter", 400, "invalid_request"),
    ],
)
async def test_token_endpoint_errors(sandbox: Sandbox, case: str, status: int, error: str) -> None:
    form = assertion_form(sandbox)
    if case == "grant_type":
        form["grant_type"] = "password"
    elif case == "no_assertion":
        del form["client_assertion"]
    elif case == "wrong_audience":
        form = assertion_form(sandbox, aud="https://elsewhere.example/token")
    elif case == "expired":
        form = assertion_form(sandbox, iat=int(time.time()) - 900, exp=int(time.time()) - 600)
    elif case == "sub_differs":
        form = assertion_form(sandbox, sub=doc(sandbox)["members"]["auditor"]["id"])
    elif case == "unknown_member":
        stranger = "CN/GOV/11510502MB76543212/other"
        form["client_assertion"] = client_assertion(
            stranger, private_signing_key(load_jwks(generate_member_jwks()[0])), f"{sandbox.base_url}/oauth2/token"
        )
    elif case == "client_id_differs":
        form["client_id"] = doc(sandbox)["members"]["auditor"]["id"]
    elif case == "replayed":
        assert (await token_request(sandbox, form)).status_code == 200
    elif case == "scope":
        form = assertion_form(sandbox, member="auditor")
        form["scope"] = "verify"
    if case == "repeated_parameter":
        async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
            content = httpx.QueryParams(form).add("grant_type", "client_credentials")
            response = await http.post(
                "/oauth2/token", content=str(content), headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
    else:
        response = await token_request(sandbox, form)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] == error
    assert set(answer) <= {"error", "error_description", "error_uri"}


async def hand_made_token(sandbox: Sandbox, **claims: Any) -> str:
    member_id = doc(sandbox)["members"]["mis"]["id"]
    now = int(time.time())
    values = {
        "iss": sandbox.base_url,
        "sub": member_id,
        "client_id": member_id,
        "aud": sandbox.hub.settings.hub_id,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "scope": "verify",
    }
    values.update(claims)
    typ = values.pop("typ", "at+jwt")
    return sign_jwt(values, sandbox.hub.keys.signing_key, typ=str(typ))


async def verify_with_token(sandbox: Sandbox, token: str, member: str = "mis") -> httpx.Response:
    member_id = doc(sandbox)["members"][member]["id"]
    sealed = seal(
        body(sandbox),
        issuer=member_id,
        audience=sandbox.hub.settings.hub_id,
        signing_key=member_key(sandbox, member),
        recipient_key=sandbox.hub.keys.encryption_key,
    )
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        return await http.post(
            "/v1/verifications",
            content=sealed.token,
            headers={"Content-Type": "application/jose", "Authorization": f"Bearer {token}"},
        )


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 1000, "iat": int(time.time()) - 1300},
        {"aud": "CN/GOV/11510502MB76543212/dibao-mis"},
        {"iss": "https://other-issuer.example"},
        {"typ": "JWT"},
    ],
    ids=["expired", "wrong_audience", "wrong_issuer", "not_typed_at_jwt"],
)
async def test_bad_access_tokens_are_401(sandbox: Sandbox, claims: dict[str, Any]) -> None:
    response = await verify_with_token(sandbox, await hand_made_token(sandbox, **claims))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert (
        response.headers["www-authenticate"].startswith("Hedui-Envelope")
        or "Bearer" in response.headers["www-authenticate"]
    )


async def test_missing_token_is_401(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        response = await http.post("/v1/verifications", content=b"x", headers={"Content-Type": "application/jose"})
    assert (response.status_code, response.json()["code"]) == (401, "invalid_token")


async def test_a_token_never_grants_more_than_the_role(sandbox: Sandbox) -> None:
    token = await hand_made_token(sandbox, scope="verify admin audit:read")
    caller = await sandbox.hub.tokens.authenticate(f"Bearer {token}")
    assert caller.scopes == {"verify"}


async def test_hand_made_valid_token_works(sandbox: Sandbox) -> None:
    assert (await verify_with_token(sandbox, await hand_made_token(sandbox))).status_code == 201


async def test_token_of_one_member_with_envelope_of_another_is_refused(sandbox: Sandbox) -> None:
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="mis_510502") as other:
        token_of_b = await other.access_token()
    response = await verify_with_token(sandbox, token_of_b, member="mis")
    assert (response.status_code, response.json()["code"]) == (403, "sender_mismatch")


async def test_each_authorisation_refusal(sandbox: Sandbox) -> None:
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="auditor") as auditor:
        with pytest.raises(ScopeMissing):
            await auditor.verify(body(sandbox))
    async with HubClient.from_sandbox(sandbox.sandbox_json) as mis:
        with pytest.raises(PurposeNotAllowed):
            await mis.verify(body(sandbox, purpose="weather.forecast"))
        with pytest.raises(RegionNotAllowed):
            await mis.verify(body(sandbox, region="510502"))
        with pytest.raises(CategoryNotAllowed):
            await mis.verify(body(sandbox, purpose="temporary_assistance.application"))
        # Authorisation passes for these; the sandbox's consents name only dibao.application, so the next
        # step of the flow, the consent check, is what refuses them.
        with pytest.raises(ConsentMissing):
            await mis.verify(
                body(sandbox, purpose="temporary_assistance.application", categories=["hukou", "civil_affairs", "tax"])
            )
        with pytest.raises(ConsentMissing):
            await mis.verify(body(sandbox, purpose="dibao.residence_application", region="510502"))


async def test_client_sdk_refreshes_its_token(sandbox: Sandbox) -> None:
    async with HubClient.from_sandbox(sandbox.sandbox_json) as mis:
        first = await mis.access_token()
        mis._token_expires = time.time()  # as if the token were about to expire
        second = await mis.access_token()
        assert first != second
        mis._access_token = await hand_made_token(sandbox, exp=int(time.time()) - 1000)  # expired at the hub
        report = await mis.verify(body(sandbox))
        assert report["status"] == "complete"


async def test_federation_metadata_verifies_offline_with_jwcrypto(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        response = await http.get("/v1/federation")
        hub_jwks = (await http.get("/.well-known/jwks.json")).json()
    assert response.headers["content-type"].startswith("application/jwt")
    verified = cjws.JWS()
    verified.deserialize(response.text)
    verified.verify(cjwk.JWKSet.from_json(json.dumps(hub_jwks)))
    assert verified.jose_header["typ"] == "hedui-federation+jwt"
    claims = json.loads(verified.payload)
    assert claims["iss"] == sandbox.hub.settings.hub_id
    assert claims["exp"] > time.time()
    ids = {m["id"]: m for m in claims["members"]}
    mis = doc(sandbox)["members"]["mis"]
    assert ids[mis["id"]]["role"] == "local_mis"
    assert ids[mis["id"]]["region"] == "110101"
    assert all("d" not in key for m in claims["members"] for key in m["jwks"]["keys"])
    assert claims["hub"]["endpoints"]["token"] == f"{sandbox.base_url}/oauth2/token"
    tampered = response.text[:-4] + ("AAAA" if not response.text.endswith("AAAA") else "BBBB")
    bad = cjws.JWS()
    bad.deserialize(tampered)
    with pytest.raises(Exception, match=r"No working key|Verification failed"):
        bad.verify(cjwk.JWKSet.from_json(json.dumps(hub_jwks)))


async def test_key_rotation_keeps_old_answers_verifiable_and_new_requests_working(tmp_path: Path) -> None:
    box = Sandbox(data_dir=tmp_path / "rotation", port=0, households=10)
    await box.start()
    try:
        async with HubClient.from_sandbox(box.sandbox_json) as mis:
            mis_private = json.loads((box.data_dir / doc(box)["members"]["mis"]["private_jwks"]).read_text())
            old_sig_kid = box.hub.keys.signing_key.kid
            old_answer = await raw_verification(box, mis)
            idle = HubClient.from_sandbox(box.sandbox_json)
            await idle.access_token()
            await idle._hub_keys()  # an idle client holding the pre-rotation JWKS
            new_sig, _new_enc = rotate_key_dir(box.data_dir / "keys", grace_s=0)
            await reloaded(lambda: box.hub.keys.signing_key.kid == new_sig)
            report = await mis.verify(body(box))  # the SDK refetches the JWKS for the new signing key
            assert report["status"] == "complete"
            async with httpx.AsyncClient() as http:
                jwks = (await http.get(doc(box)["hub"]["jwks_url"])).json()
            assert {old_sig_kid, new_sig} <= {k["kid"] for k in jwks["keys"]}
            assert inner_signature_kid(old_answer, mis_private, jwks) == old_sig_kid

            old_enc_kid = next(k["kid"] for k in jwks["keys"] if k["use"] == "enc" and k["kid"] != _new_enc)
            retire_key(box.data_dir / "keys", old_sig_kid)
            retire_key(box.data_dir / "keys", old_enc_kid)  # the SDK still holds it: it must refetch and reseal
            await reloaded(lambda: not {old_sig_kid, old_enc_kid} & {k["kid"] for k in box.hub.public_jwks()["keys"]})
            async with httpx.AsyncClient() as http:
                jwks = (await http.get(doc(box)["hub"]["jwks_url"])).json()
            assert old_sig_kid not in {k["kid"] for k in jwks["keys"]}
            with pytest.raises(Exception, match=r"No working key|Verification failed"):
                inner_signature_kid(old_answer, mis_private, jwks)
            assert (await mis.verify(body(box)))["status"] == "complete"
            async with idle:
                assert (await idle.verify(body(box)))["status"] == "complete"  # refetched and resealed
    finally:
        await box.stop()


async def reloaded(done: Callable[[], bool]) -> None:
    """Wait until a running hub has reloaded its key directory (it looks at most once a second): polled,
    with a bound far above that second, so a loaded machine cannot make the test fail."""
    for _ in range(600):
        if done():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the hub did not reload its key directory within 30 s")


async def raw_verification(box: Sandbox, mis: HubClient) -> str:
    member_id = doc(box)["members"]["mis"]["id"]
    sealed = seal(
        body(box),
        issuer=member_id,
        audience=box.hub.settings.hub_id,
        signing_key=member_key(box, "mis"),
        recipient_key=box.hub.keys.encryption_key,
    )
    async with httpx.AsyncClient(base_url=box.base_url) as http:
        response = await http.post(
            "/v1/verifications",
            content=sealed.token,
            headers={"Content-Type": "application/jose", "Authorization": f"Bearer {await mis.access_token()}"},
        )
    assert response.status_code == 201
    return response.text


def inner_signature_kid(answer: str, mis_private: dict[str, Any], hub_jwks: dict[str, Any]) -> str:
    from jwcrypto import jwe as cjwe

    decrypter = cjwk.JWK(**next(k for k in mis_private["keys"] if k["use"] == "enc"))
    outer = cjwe.JWE()
    outer.deserialize(answer, key=decrypter)
    inner = cjws.JWS()
    inner.deserialize(outer.payload.decode())
    inner.verify(cjwk.JWKSet.from_json(json.dumps(hub_jwks)))
    return str(inner.jose_header["kid"])


async def test_an_external_issuer_can_be_trusted_instead(tmp_path: Path) -> None:
    idp_private, idp_public = generate_member_jwks()
    idp_key = private_signing_key(load_jwks(idp_private))

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(idp_public)

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    issuer = "https://idp.example.gov.cn"
    box = Sandbox(
        data_dir=tmp_path / "external",
        port=0,
        households=10,
        hub_settings={
            "external_issuer": issuer,
            "external_jwks_url": f"http://127.0.0.1:{port}/jwks",
            "external_audience": "hedui-hub",
        },
    )
    await box.start()
    try:
        now = int(time.time())
        member_id = doc(box)["members"]["mis"]["id"]
        claims = {
            "iss": issuer,
            "sub": member_id,
            "aud": "hedui-hub",
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            "scope": "verify",
        }
        external_token = sign_jwt(claims, idp_key, typ="at+jwt")
        assert (await verify_with_token(box, external_token)).status_code == 201
        async with HubClient.from_sandbox(box.sandbox_json) as mis:
            own_token = await mis.access_token()
        refused = await verify_with_token(box, own_token)
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")
    finally:
        await box.stop()
        await runner.cleanup()


async def test_invalid_client_error_class_in_sdk(sandbox: Sandbox) -> None:
    stranger = HubClient(
        sandbox.base_url,
        member_id="CN/GOV/11510502MB76543212/stranger",
        private_jwks=generate_member_jwks()[0],
        hub_id=sandbox.hub.settings.hub_id,
    )
    async with stranger:
        with pytest.raises(InvalidClient):
            await stranger.access_token()
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="auditor") as auditor:
        auditor._scope = "verify"
        with pytest.raises(InvalidScope):
            await auditor.access_token()
