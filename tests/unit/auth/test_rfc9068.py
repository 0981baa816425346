"""Access-token validation (RFC 9068 §4) and its cache of verified tokens: a token's signature is checked once,
while what may change during its life (its key still published, its subject still a member) is checked on
every request, and its expiry holds against the injected clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc import jws

import gateway.auth.rfc9068 as rfc9068
from gateway.auth import AccessTokenIssuer, AccessTokenValidator
from gateway.envelope import HubKeys, init_key_dir, retire_key, rotate_key_dir
from gateway.envelope._suite import signature_registry, signing_algorithm
from gateway.errors import InvalidToken, NotFound
from gateway.members.registry import MemberRecord

HUB = "http://hub.example"
MEMBER = "CN/GOV/11100000MB0348916Y/mis"
NOW = 1_800_000_000.0


class Members:
    """The member registry as the validator uses it (``get``); a member can be removed."""

    def __init__(self) -> None:
        self.records = {MEMBER: MemberRecord(MEMBER, "local_mis", "110101", "mis", {"keys": []})}

    async def get(self, member_id: str) -> MemberRecord:
        if member_id not in self.records:
            raise NotFound("no such member")
        return self.records[member_id]


class Setup:
    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self.keys = init_key_dir(key_dir)
        self.members = Members()
        self.issuer = AccessTokenIssuer(lambda: self.keys, issuer=HUB, audience=HUB)
        self.validator = AccessTokenValidator(lambda: self.keys, self.members, issuer=HUB, audience=HUB)  # type: ignore[arg-type]

    def token(self, now: float = NOW) -> str:
        return self.issuer.issue(MEMBER, frozenset({"verify", "admin"}), now=now)[0]

    async def caller(self, token: str, now: float = NOW) -> rfc9068.Caller:
        return await self.validator.authenticate(f"Bearer {token}", now=now)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path / "keys")


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts signature verifications."""
    calls: list[str] = []
    real = rfc9068.verify_jwt

    def counting(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rfc9068, "verify_jwt", counting)
    return calls


async def test_a_token_is_verified_once_and_then_served_from_the_cache(setup: Setup, verifications: list[str]) -> None:
    token = setup.token()
    first = await setup.caller(token)
    second = await setup.caller(token, now=NOW + 10)
    assert first == second
    assert first.scopes == frozenset({"verify"})  # "admin" is not the role's: capped on every request
    assert verifications == [token]


async def test_a_cached_token_of_a_removed_member_is_refused(setup: Setup) -> None:
    token = setup.token()
    await setup.caller(token)
    del setup.members.records[MEMBER]
    with pytest.raises(InvalidToken):
        await setup.caller(token)


async def test_a_role_change_applies_to_a_cached_token_at_once(setup: Setup) -> None:
    token = setup.token()
    assert (await setup.caller(token)).scopes == frozenset({"verify"})
    setup.members.records[MEMBER] = MemberRecord(MEMBER, "operator", None, "mis", {"keys": []})
    assert (await setup.caller(token)).scopes == frozenset({"admin"})


async def test_a_cached_token_expires_on_the_clock(setup: Setup) -> None:
    token = setup.token()
    await setup.caller(token)
    with pytest.raises(InvalidToken, match="expired"):
        await setup.caller(token, now=NOW + 300 + 61)


async def test_retiring_the_signing_key_ends_its_cached_tokens(setup: Setup) -> None:
    old = setup.token()
    await setup.caller(old)
    old_kid = setup.keys.signing_key.kid
    rotate_key_dir(setup.key_dir, grace_s=0, now=NOW - 1)
    setup.keys = HubKeys.load(setup.key_dir)
    assert (await setup.caller(old)).member_id == MEMBER  # rotated, not retired: still published
    retire_key(setup.key_dir, old_kid)
    setup.keys = HubKeys.load(setup.key_dir)
    with pytest.raises(InvalidToken):
        await setup.caller(old)
    assert (await setup.caller(setup.token())).member_id == MEMBER  # the new key's tokens work


async def test_a_changed_token_is_never_taken_from_the_cache(setup: Setup) -> None:
    token = setup.token()
    await setup.caller(token)
    head, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        await setup.caller(f"{head}.{payload}.{signature[:10]}{'B' if signature[10] == 'A' else 'A'}{signature[11:]}")


async def test_the_cache_is_bounded(setup: Setup) -> None:
    setup.validator = AccessTokenValidator(  # type: ignore[arg-type]
        lambda: setup.keys, setup.members, issuer=HUB, audience=HUB, cache_entries=2
    )
    for second in range(5):
        await setup.caller(setup.token(now=NOW + second), now=NOW + second)
    assert len(setup.validator._verified) == 2


@pytest.mark.parametrize("exp", [float("nan"), float("inf"), 1e300, -1, True, "1800000300"])
async def test_a_token_without_a_usable_exp_is_refused(setup: Setup, exp: object) -> None:
    claims = {"iss": HUB, "aud": HUB, "sub": MEMBER, "iat": int(NOW), "exp": exp, "scope": "verify"}
    with pytest.raises(InvalidToken):
        await setup.caller(_unsafe_token(setup, claims))


def _unsafe_token(setup: Setup, claims: dict[str, object]) -> str:
    """A token signed as a careless (or hostile) issuer would write it: NaN and Infinity allowed."""
    key = setup.keys.signing_key
    header = {"alg": signing_algorithm(key), "kid": key.kid, "typ": "at+jwt"}
    return jws.serialize_compact(header, json.dumps(claims).encode(), key, registry=signature_registry(65536))
