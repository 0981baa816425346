"""JOSE attacks on the envelope of POST /v1/verifications: algorithms, key headers, crit, zip, nesting,
times, audience, replay, sender and response binding. Each is refused with its code before any agency is
asked; the correct envelope next to them is accepted, so the refusals are not an accident of the kit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from jwcrypto import jwe as cjwe
from jwcrypto import jwk as cjwk

from tests.hostile.kit import Hostile, b64, b64json

pytestmark = pytest.mark.asyncio(loop_scope="session")
PATH = "/v1/verifications"


async def test_the_correct_envelope_is_accepted_and_the_answer_bound_to_it(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    envelope, inner = await hostile.envelope(mis, hostile.request_body())
    response = await hostile.post(PATH, token, envelope)
    await hostile.expect("jose", response, 201, None)
    header, claims = hostile.open_reply(mis, response.text)
    # The answer names the request it answers (req = SHA-256 of the inner JWS) and uses our alg name.
    assert claims["req"] == b64(hashlib.sha256(inner.encode("ascii")).digest())
    assert (claims["aud"], header["alg"]) == (mis.member_id, "EdDSA")


async def _send_signed(hostile: Hostile, inner: str, status: int, code: str) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    response = await hostile.post(PATH, token, await hostile.encrypt(inner))
    await hostile.expect("jose", response, status, code)


async def test_alg_none_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    claims = hostile.claims(mis, hostile.request_body())
    inner = f"{b64json({'alg': 'none', 'kid': mis.signing['kid'], 'typ': 'hedui+jwt'})}.{b64json(claims)}."
    await _send_signed(hostile, inner, 401, "signature_invalid")


async def test_hs256_keyed_with_the_public_key_is_refused(hostile: Hostile) -> None:
    """Algorithm confusion: an HMAC whose secret is the member's public key, which anyone knows."""
    mis = hostile.members["mis"]
    secret = base64.urlsafe_b64decode(mis.signing["x"] + "==")
    head = b64json({"alg": "HS256", "kid": mis.signing["kid"], "typ": "hedui+jwt"})
    body = b64json(hostile.claims(mis, hostile.request_body()))
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    await _send_signed(hostile, f"{head}.{body}.{b64(mac)}", 401, "signature_invalid")


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA448"])
async def test_another_alg_over_the_ed25519_signature_is_refused(hostile: Hostile, alg: str) -> None:
    mis = hostile.members["mis"]
    inner = mis.raw_sign(
        {"alg": alg, "kid": mis.signing["kid"], "typ": "hedui+jwt"}, hostile.claims(mis, hostile.request_body())
    )
    await _send_signed(hostile, inner, 401, "signature_invalid")


@pytest.mark.parametrize("where", ["jwk", "jku", "x5u", "x5c"])
async def test_key_headers_never_bring_their_own_key(hostile: Hostile, where: str) -> None:
    """Signed by an attacker's key named (or embedded) in the header, under the member's kid."""
    mis = hostile.members["mis"]
    attacker = cjwk.JWK.generate(kty="OKP", crv="Ed25519")
    values = {
        "jwk": json.loads(attacker.export_public()),
        "jku": "http://127.0.0.1:9/jwks.json",
        "x5u": "http://127.0.0.1:9/cert.pem",
        "x5c": ["MIIB"],
    }
    head = b64json({"alg": "EdDSA", "kid": mis.signing["kid"], "typ": "hedui+jwt", where: values[where]})
    body = b64json(hostile.claims(mis, hostile.request_body()))
    signature = attacker.get_op_key("sign").sign(f"{head}.{body}".encode())
    await _send_signed(hostile, f"{head}.{body}.{b64(signature)}", 401, "signature_invalid")


async def test_an_unknown_kid_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    inner = hostile.sign(mis, hostile.claims(mis, hostile.request_body()), kid="not-a-registered-key")
    await _send_signed(hostile, inner, 401, "signature_invalid")


async def test_crit_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    inner = mis.raw_sign(
        {"alg": "EdDSA", "kid": mis.signing["kid"], "typ": "hedui+jwt", "crit": ["exp"], "exp": 1},
        hostile.claims(mis, hostile.request_body()),
    )
    await _send_signed(hostile, inner, 400, "envelope_invalid")


@pytest.mark.parametrize(
    "header",
    [{"zip": "DEF"}, {"crit": ["zip"]}, {"cty": None}, {"cty": "json"}, {"enc": "A128GCM"}, {"alg": "ECDH-ES"}],
    ids=["zip", "crit", "no cty", "other cty", "A128GCM", "ECDH-ES direct"],
)
async def test_the_jwe_header_must_be_the_designed_one(hostile: Hostile, header: dict[str, object]) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    key = await hostile.hub_encryption_key()
    protected = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": key["kid"], "cty": "JWT", **header}
    protected = {name: value for name, value in protected.items() if value is not None}
    inner = hostile.sign(mis, hostile.claims(mis, hostile.request_body()))
    encrypted = cjwe.JWE(inner.encode("ascii"), protected=json.dumps(protected))
    encrypted.add_recipient(key)
    response = await hostile.post(PATH, token, encrypted.serialize(compact=True))
    await hostile.expect("jose", response, 400, "envelope_invalid")


@pytest.mark.parametrize("nesting", ["bare JWS", "JWE in JWE", "JSON serialization", "JWS in JWS"])
async def test_only_a_jws_inside_one_jwe_is_an_envelope(hostile: Hostile, nesting: str) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    inner = hostile.sign(mis, hostile.claims(mis, hostile.request_body()))
    if nesting == "bare JWS":
        payload = inner
    elif nesting == "JWE in JWE":
        payload = await hostile.encrypt(await hostile.encrypt(inner))
    elif nesting == "JSON serialization":
        head, body, signature = inner.split(".")
        payload = json.dumps({"protected": head, "payload": body, "signature": signature})
    else:
        payload = await hostile.encrypt(mis.raw_sign({"alg": "EdDSA", "kid": mis.signing["kid"]}, inner))
    response = await hostile.post(PATH, token, payload)
    await hostile.expect("jose", response, 400, "envelope_invalid")


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"exp": -600, "iat": -900}, 401, "expired"),
        ({"iat": 600, "exp": 700}, 401, "expired"),
        ({"iat": 0, "exp": 3600}, 401, "expired"),  # lifetime over 300 s
        ({"iat": 0, "exp": 0}, 401, "expired"),
    ],
    ids=["expired", "issued in the future", "lifetime", "no lifetime"],
)
async def test_times(hostile: Hostile, changes: dict[str, int], status: int, code: str) -> None:
    mis = hostile.members["mis"]
    now = int(time.time())
    claims = hostile.claims(mis, hostile.request_body(), **{k: now + v for k, v in changes.items()})
    await _send_signed(hostile, hostile.sign(mis, claims), status, code)


async def test_another_audience_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    claims = hostile.claims(mis, hostile.request_body(), aud=hostile.members["mis_510502"].member_id)
    await _send_signed(hostile, hostile.sign(mis, claims), 401, "wrong_audience")


async def test_a_replayed_envelope_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    token = await hostile.token(mis, "verify")
    envelope, _ = await hostile.envelope(mis, hostile.request_body())
    await hostile.expect("jose", await hostile.post(PATH, token, envelope), 201, None)
    await hostile.expect("jose", await hostile.post(PATH, token, envelope), 409, "replayed")


async def test_an_envelope_of_another_member_under_my_token_is_refused(hostile: Hostile) -> None:
    token = await hostile.token(hostile.members["mis_510502"], "verify")
    envelope, _ = await hostile.envelope(hostile.members["mis"], hostile.request_body())
    await hostile.expect("jose", await hostile.post(PATH, token, envelope), 403, "sender_mismatch")


async def test_an_envelope_claiming_another_issuer_is_refused(hostile: Hostile) -> None:
    mis, other = hostile.members["mis"], hostile.members["mis_510502"]
    token = await hostile.token(other, "verify")
    # Signed by mis, but claiming to come from the token's member: the key does not belong to that issuer.
    inner = hostile.sign(mis, hostile.claims(mis, hostile.request_body(), iss=other.member_id))
    response = await hostile.post(PATH, token, await hostile.encrypt(inner))
    await hostile.expect("jose", response, 401, "signature_invalid")
