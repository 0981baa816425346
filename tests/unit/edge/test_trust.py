"""The edge's trust in the hub: signed federation metadata, pinned or first-fetched, cached, chained."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gateway.edge.trust import CACHE_FILE, FederationTrust, member_jwks, verify_federation
from gateway.envelope import HubKeys, init_key_dir
from gateway.errors import ConfigurationError, Expired, SignatureInvalid
from gateway.members import MemberRecord
from gateway.members.federation import federation_claims, sign_federation

HUB = "CN/GOV/11100000MB0348916Y/hub"
EDGE = "CN/GOV/11100000MB0348923N/tax-edge"


def _metadata(keys: HubKeys, *, lifetime_s: int = 3600, now: float | None = None) -> str:
    edge = MemberRecord(EDGE, "agency", None, "tax-edge", {"keys": []})
    claims = federation_claims(
        hub_id=HUB,
        base_url="http://hub.test",
        members=[edge],
        hub_jwks=keys.public_jwks(),
        lifetime_s=lifetime_s,
        now=now,
    )
    return sign_federation(claims, keys)


@pytest.fixture
def hub_keys(tmp_path: Path) -> HubKeys:
    return init_key_dir(tmp_path / "hub-keys")


@pytest.fixture
def other_keys(tmp_path: Path) -> HubKeys:
    return init_key_dir(tmp_path / "other-keys")


def test_metadata_verifies_with_its_own_keys_or_a_pinned_jwks(hub_keys: HubKeys, other_keys: HubKeys) -> None:
    token = _metadata(hub_keys)
    assert verify_federation(token, None)["iss"] == HUB
    assert verify_federation(token, hub_keys.public_jwks())["iss"] == HUB
    assert member_jwks(verify_federation(token, None), EDGE, role="agency") == {"keys": []}
    with pytest.raises(SignatureInvalid):
        verify_federation(token, other_keys.public_jwks())
    with pytest.raises(SignatureInvalid):
        member_jwks(verify_federation(token, None), EDGE, role="local_mis")


def test_expired_metadata_is_refused(hub_keys: HubKeys) -> None:
    token = _metadata(hub_keys, lifetime_s=60, now=time.time() - 120)
    with pytest.raises(Expired):
        verify_federation(token, None)


def _trust(tmp_path: Path, handler: httpx.MockTransport, **kwargs: object) -> FederationTrust:
    return FederationTrust(
        "http://hub.test",
        tmp_path,
        http=httpx.AsyncClient(transport=handler),
        **kwargs,  # type: ignore[arg-type]
    )


def _serving(*tokens: str) -> tuple[httpx.MockTransport, list[int]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/federation"
        calls.append(1)
        return httpx.Response(200, text=tokens[min(len(calls), len(tokens)) - 1])

    return httpx.MockTransport(handler), calls


def _down() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("hub down", request=request)

    return httpx.MockTransport(handler)


async def test_first_fetch_is_cached_and_later_starts_work_offline(tmp_path: Path, hub_keys: HubKeys) -> None:
    transport, calls = _serving(_metadata(hub_keys))
    first = _trust(tmp_path, transport)
    assert (await first.load())["iss"] == HUB
    await first.aclose()
    assert (tmp_path / CACHE_FILE).exists() and calls == [1]

    offline = _trust(tmp_path, _down())
    assert await offline.hub_id() == HUB
    await offline.aclose()


async def test_nothing_cached_and_hub_down_fails_closed(tmp_path: Path) -> None:
    trust = _trust(tmp_path, _down())
    with pytest.raises(ConfigurationError):
        await trust.load()
    await trust.aclose()


async def test_a_pinned_jwks_refuses_metadata_of_another_hub(
    tmp_path: Path, hub_keys: HubKeys, other_keys: HubKeys
) -> None:
    transport, _ = _serving(_metadata(other_keys))
    trust = _trust(tmp_path, transport, pinned_hub_jwks=hub_keys.public_jwks())
    with pytest.raises(ConfigurationError):
        await trust.load()
    await trust.aclose()


async def test_a_refresh_must_be_signed_by_a_key_trusted_before(
    tmp_path: Path, hub_keys: HubKeys, other_keys: HubKeys
) -> None:
    clock = [time.time()]
    good = _metadata(hub_keys, lifetime_s=400, now=clock[0])
    transport, calls = _serving(good, _metadata(other_keys, lifetime_s=400, now=clock[0] + 350))
    trust = _trust(tmp_path, transport, clock=lambda: clock[0])
    await trust.load()
    clock[0] += 350  # within the last quarter: refreshed, but the new copy is signed by an unknown key
    assert await trust.hub_id() == HUB
    assert len(calls) == 2
    assert (tmp_path / CACHE_FILE).read_text() == good  # the swapped metadata was not taken
    await trust.aclose()


async def test_only_the_hub_envelope_keys_verify_queries(tmp_path: Path, hub_keys: HubKeys) -> None:
    transport, _ = _serving(_metadata(hub_keys))
    trust = _trust(tmp_path, transport)
    await trust.load()
    signing = hub_keys.signing_key
    assert (await trust.verification_key(HUB, signing.kid)).kid == signing.kid
    with pytest.raises(SignatureInvalid, match="only the hub"):
        await trust.verification_key("CN/GOV/11110101MB12345677/dibao-mis", signing.kid)
    with pytest.raises(SignatureInvalid):
        await trust.verification_key(HUB, "no-such-kid")
    await trust.aclose()
