"""Console sign-in through an OpenID Connect provider (gateway/console/oidc.py): the client against a real
provider on loopback (tests/integration/console/identity_provider.py), every ID-token check of OIDC Core
§3.1.3.7 failing closed, the browser's part is test_oidc_console.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from gateway.console.oidc import OidcClient, OidcIdentity, PendingSignIn
from gateway.errors import ConsoleOidcFailed
from tests.integration.console.identity_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Grant,
    IdentityProvider,
    running_provider,
)

REDIRECT = "http://127.0.0.1:9/console/oidc/callback"


@pytest.fixture
async def provider() -> AsyncIterator[IdentityProvider]:
    async with running_provider() as running:
        running.redirect_uris.add(REDIRECT)
        yield running


@pytest.fixture
async def client(provider: IdentityProvider) -> AsyncIterator[OidcClient]:
    oidc = OidcClient(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT)
    try:
        yield oidc
    finally:
        await oidc.aclose()


async def authorize(client: OidcClient, pending: PendingSignIn) -> dict[str, str]:
    """What the browser would bring back to the callback: the provider's redirect's query."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(await client.authorization_url(pending))
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {name: values[0] for name, values in parse_qs(location.query).items()}


async def test_a_sign_in_gives_the_providers_identity(provider: IdentityProvider, client: OidcClient) -> None:
    pending = PendingSignIn.new()
    answer = await authorize(client, pending)
    assert answer["state"] == pending.state

    identity = await client.finish(pending, state=answer["state"], code=answer["code"])

    assert identity == OidcIdentity(provider.issuer, "auditor-7")
    # The code is single use: the same answer again is refused by the provider, and so the sign-in fails.
    with pytest.raises(ConsoleOidcFailed):
        await client.finish(pending, state=answer["state"], code=answer["code"])


def changed(**claims: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(original: dict[str, Any]) -> dict[str, Any]:
        merged = {**original, **claims}
        return {name: value for name, value in merged.items() if value is not None}

    return change


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(changed(nonce="another-sign-in"), id="nonce"),
        pytest.param(changed(aud=[CLIENT_ID, "another-client"]), id="extra-audience"),
        pytest.param(changed(aud="another-client"), id="audience"),
        pytest.param(changed(aud=[CLIENT_ID], azp="another-client"), id="azp"),
        pytest.param(changed(iss="https://idp.example"), id="issuer"),
        pytest.param(changed(exp=int(time.time()) - 120), id="expired"),
        pytest.param(changed(iat=int(time.time()) + 600), id="issued-in-the-future"),
        pytest.param(changed(sub=None), id="no-subject"),
        pytest.param(changed(sub="x" * 256), id="subject-too-long"),
    ],
)
async def test_id_tokens_that_do_not_validate_are_refused(
    provider: IdentityProvider, client: OidcClient, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    provider.claims_change = change
    pending = PendingSignIn.new()
    answer = await authorize(client, pending)
    with pytest.raises(ConsoleOidcFailed):
        await client.finish(pending, state=answer["state"], code=answer["code"])


def compact(header: dict[str, Any], payload: bytes, signature: bytes = b"") -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join((b64(json.dumps(header).encode()), b64(payload), b64(signature)))


def claims_for(provider: IdentityProvider, nonce: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": provider.issuer, "sub": "auditor-7", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce}


async def test_forged_and_unsigned_id_tokens_are_refused(provider: IdentityProvider, client: OidcClient) -> None:
    claims = claims_for(provider, "n" * 43)
    # Signed with the client secret (HS256): anyone holding the secret could forge it.
    hmac_token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET.encode()))
    # A key that is not the provider's, under the provider's key id.
    impostor = RSAKey.generate_key(2048, parameters={"kid": provider.key.kid})
    forged = jwt.encode({"alg": "RS256", "kid": provider.key.kid}, claims, impostor)
    unsigned = compact({"alg": "none"}, json.dumps(claims).encode())
    nested = compact({"alg": "RS256", "kid": provider.key.kid}, b"[" * 100_000 + b"]" * 100_000, b"x")
    for token in (hmac_token, forged, unsigned, nested, "not a token"):
        with pytest.raises(ConsoleOidcFailed):
            await client.validated_id_token(token, nonce="n" * 43)
    genuine = jwt.encode({"alg": "RS256", "kid": provider.key.kid}, claims, provider.key)
    assert (await client.validated_id_token(genuine, nonce="n" * 43))["sub"] == "auditor-7"


async def test_a_rotated_provider_key_is_fetched_again(provider: IdentityProvider, client: OidcClient) -> None:
    token = provider.id_token(Grant("auditor-7", "n" * 43, "", REDIRECT))
    await client.validated_id_token(token, nonce="n" * 43)
    provider.rotate()
    rotated = provider.id_token(Grant("auditor-7", "n" * 43, "", REDIRECT))
    assert (await client.validated_id_token(rotated, nonce="n" * 43))["sub"] == "auditor-7"
    assert provider.jwks_requests == 2


async def test_state_and_metadata_are_checked(provider: IdentityProvider, client: OidcClient) -> None:
    pending = PendingSignIn.new()
    answer = await authorize(client, pending)
    with pytest.raises(ConsoleOidcFailed):  # an answer meant for another sign-in (login CSRF)
        await client.finish(PendingSignIn.new(), state=answer["state"], code=answer["code"])
    assert provider.token_requests == 0  # refused before the code was spent
    with pytest.raises(ConsoleOidcFailed):
        PendingSignIn.from_cookie("forged.cookie")

    provider.metadata_change = changed(issuer="http://127.0.0.1:1")  # Discovery §4.3: must be the issuer
    other = OidcClient(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT)
    try:
        with pytest.raises(ConsoleOidcFailed):
            await other.authorization_url(PendingSignIn.new())
    finally:
        await other.aclose()
