"""StaticKeyResolver: a signing key is found only under its own member and only if it is a signing key."""

from __future__ import annotations

import pytest
from joserfc.jwk import KeySet

from gateway.envelope import StaticKeyResolver, generate_member_jwks
from gateway.errors import ConfigurationError, SignatureInvalid

MIS = "CN/GOV/11110105000000000M/dibao"
OTHER = "CN/COM/91110000000000000A/other"


async def test_finds_a_members_signing_key_by_kid() -> None:
    _, public_jwks = generate_member_jwks()
    signing_kid = public_jwks["keys"][0]["kid"]

    key = await StaticKeyResolver({MIS: public_jwks}).verification_key(MIS, signing_kid)

    assert key.kid == signing_kid
    assert key.as_dict() == public_jwks["keys"][0]


async def test_accepts_a_key_set() -> None:
    _, public_jwks = generate_member_jwks()

    key = await StaticKeyResolver({MIS: KeySet.import_key_set(public_jwks)}).verification_key(
        MIS, public_jwks["keys"][0]["kid"]
    )

    assert key.as_dict() == public_jwks["keys"][0]


async def test_unknown_member() -> None:
    _, public_jwks = generate_member_jwks()

    with pytest.raises(SignatureInvalid):
        await StaticKeyResolver({MIS: public_jwks}).verification_key(OTHER, public_jwks["keys"][0]["kid"])


async def test_a_kid_of_another_member_is_not_found() -> None:
    _, mis_jwks = generate_member_jwks()
    _, other_jwks = generate_member_jwks()
    resolver = StaticKeyResolver({MIS: mis_jwks, OTHER: other_jwks})

    with pytest.raises(SignatureInvalid):
        await resolver.verification_key(MIS, other_jwks["keys"][0]["kid"])


async def test_an_encryption_key_never_verifies() -> None:
    _, public_jwks = generate_member_jwks()
    encryption_kid = public_jwks["keys"][1]["kid"]

    with pytest.raises(SignatureInvalid):
        await StaticKeyResolver({MIS: public_jwks}).verification_key(MIS, encryption_kid)


@pytest.mark.parametrize("jwks", [{}, {"keys": []}, {"keys": [{"kty": "OKP"}]}])
def test_an_unreadable_jwks_is_a_configuration_error(jwks: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        StaticKeyResolver({MIS: jwks})
