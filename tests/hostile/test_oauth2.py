"""The token endpoint and bearer tokens under attack: assertion audience, reuse, expiry, a foreign key, scope
escalation, algorithm tricks, pathological JSON and numbers, and hostile access tokens."""

from __future__ import annotations

import time

import pytest

from tests.hostile.kit import CLIENT_ASSERTION_TYPE, Hostile, b64json

pytestmark = pytest.mark.asyncio(loop_scope="session")


def fields(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


async def test_a_correct_assertion_gets_a_token(hostile: Hostile) -> None:
    response = await hostile.token_request(fields(hostile.assertion(hostile.members["mis"])))
    await hostile.expect("oauth2", response, 200, None)


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "http://elsewhere.example/oauth2/token"},
        {"aud": [{"nested": "object"}]},
        {"exp": -120},
        {"exp": 3600},  # lives too long
        {"iat": 3600},
        {"sub": "CN/GOV/11510502MB76543212/dibao-mis"},
        {"jti": None},
        {"jti": "x" * 65},
        {"jti": "a\u0000b"},
        {"exp": "tomorrow"},
    ],
    ids=[
        "audience",
        "audience object",
        "expired",
        "lifetime",
        "future",
        "sub",
        "no jti",
        "long jti",
        "NUL in jti",
        "string exp",
    ],
)
async def test_bad_assertions_are_invalid_client(hostile: Hostile, changes: dict[str, object]) -> None:
    mis = hostile.members["mis"]
    now = int(time.time())
    timed = {k: now + v if k in ("exp", "iat") and isinstance(v, int) else v for k, v in changes.items()}
    response = await hostile.token_request(fields(hostile.assertion(mis, **timed)))
    await hostile.expect("oauth2", response, 401, "invalid_client")


async def test_an_assertion_is_single_use(hostile: Hostile) -> None:
    assertion = hostile.assertion(hostile.members["mis"])
    await hostile.expect("oauth2", await hostile.token_request(fields(assertion)), 200, None)
    await hostile.expect("oauth2", await hostile.token_request(fields(assertion)), 401, "invalid_client")


async def test_an_assertion_signed_with_another_members_key_is_refused(hostile: Hostile) -> None:
    mis, other = hostile.members["mis"], hostile.members["mis_510502"]
    head = {"alg": "EdDSA", "kid": mis.signing["kid"], "typ": "JWT"}
    assertion = other.raw_sign(head, hostile.assertion_claims(mis))
    response = await hostile.token_request(fields(assertion))
    await hostile.expect("oauth2", response, 401, "invalid_client")


@pytest.mark.parametrize(
    ("member", "scope"), [("mis", "audit:read"), ("mis", "admin"), ("auditor", "verify"), ("mis", "verify edge")]
)
async def test_scope_escalation_is_refused(hostile: Hostile, member: str, scope: str) -> None:
    response = await hostile.token_request(fields(hostile.assertion(hostile.members[member]), scope=scope))
    await hostile.expect("oauth2", response, 400, "invalid_scope")


@pytest.mark.parametrize(
    "payload",
    [
        '{"iss": ' + "[" * 4_000 + "]" * 4_000 + "}",
        '{"exp": NaN}',
        '{"exp": Infinity}',
        '{"exp": 1e999}',
        '{"exp": 99999999999999999999999999}',
        '{"iss": "a", "iss": "b"}',
    ],
    ids=["deep nesting", "NaN", "Infinity", "1e999", "huge integer", "repeated name"],
)
async def test_pathological_assertion_json_is_invalid_client(hostile: Hostile, payload: str) -> None:
    mis = hostile.members["mis"]
    header = b64json({"alg": "EdDSA", "kid": mis.signing["kid"], "typ": "JWT"})
    assertion = f"{header}.{b64json(payload.encode())}.AAAA"
    await hostile.expect("oauth2", await hostile.token_request(fields(assertion)), 401, "invalid_client")


async def test_a_deeply_nested_assertion_header_is_invalid_client(hostile: Hostile) -> None:
    assertion = b64json(b"[" * 3_000) + ".e30.AAAA"
    await hostile.expect("oauth2", await hostile.token_request(fields(assertion)), 401, "invalid_client")


async def test_alg_none_assertion_is_refused(hostile: Hostile) -> None:
    mis = hostile.members["mis"]
    header = b64json({"alg": "none", "kid": mis.signing["kid"]})
    assertion = f"{header}.{b64json(hostile.assertion_claims(mis))}."
    await hostile.expect("oauth2", await hostile.token_request(fields(assertion)), 401, "invalid_client")


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
    ],
)
async def test_other_grants_and_no_client_authentication(
    hostile: Hostile, form: dict[str, str], status: int, error: str
) -> None:
    await hostile.expect("oauth2", await hostile.token_request(form), status, error)


async def test_a_repeated_parameter_is_refused(hostile: Hostile) -> None:
    body = "grant_type=client_credentials&grant_type=client_credentials"
    response = await hostile.http.post(
        hostile.token_endpoint, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    await hostile.expect("oauth2", response, 400, "invalid_request")


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        f"{b64json({'alg': 'none', 'typ': 'at+jwt'})}.{b64json({'sub': 'x', 'exp': 9999999999})}.",
        b64json(b"[" * 3_000) + ".e30.AAAA",
        b64json({"alg": "EdDSA", "typ": "at+jwt", "kid": "k"}) + "." + b64json(b'{"exp": NaN}') + ".AAAA",
    ],
    ids=["none", "garbage", "alg none", "deep header", "NaN exp"],
)
async def test_hostile_access_tokens_are_invalid_token(hostile: Hostile, token: str | None) -> None:
    envelope, _ = await hostile.envelope(hostile.members["mis"], hostile.request_body())
    response = await hostile.post("/v1/verifications", token, envelope)
    await hostile.expect("oauth2", response, 401, "invalid_token")


async def test_an_assertion_is_not_an_access_token(hostile: Hostile) -> None:
    assertion = hostile.assertion(hostile.members["mis"], aud=hostile.base_url)
    envelope, _ = await hostile.envelope(hostile.members["mis"], hostile.request_body())
    await hostile.expect("oauth2", await hostile.post("/v1/verifications", assertion, envelope), 401, "invalid_token")
