"""The SDK's check of a batch completion notification (gateway.client.verify_batch_callback)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.batch.callback import CALLBACK_TYPE
from gateway.client import CLOCK_LEEWAY_S, verify_batch_callback
from gateway.envelope import HubKeys
from gateway.envelope.jwt import sign_jwt
from gateway.errors import EnvelopeInvalid, Expired, SignatureInvalid, WrongAudience
from gateway.keydir import init_hub_key_dir

HUB = "CN/GOV/11100000MB0348916Y/hub"
MIS = "CN/GOV/11110101MB12345677/dibao-mis"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> HubKeys:
    return init_hub_key_dir(tmp_path_factory.mktemp("hub") / "keys")


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": HUB,
        "aud": MIS,
        "iat": now,
        "exp": now + 300,
        "jti": "4a0d9f6e-1c0b-4d55-9a55-0e0f1d2c3b4a",
        "batch_id": "0b9c1f0e-7d1a-4f63-8c55-2f8e6f1d9a10",
        "state": "closed",
        "counts": {"done": 3},
    }
    return {**base, **changes}


def test_a_notification_of_the_hub_verifies(keys: HubKeys) -> None:
    token = sign_jwt(claims(), keys.signing_key, typ=CALLBACK_TYPE)
    assert verify_batch_callback(token, keys.public_jwks(), member_id=MIS, hub_id=HUB)["counts"] == {"done": 3}


def test_another_key_another_type_issuer_or_audience_is_refused(keys: HubKeys, tmp_path: Path) -> None:
    jwks = keys.public_jwks()
    stranger = init_hub_key_dir(tmp_path / "other")
    with pytest.raises(SignatureInvalid):
        verify_batch_callback(
            sign_jwt(claims(), stranger.signing_key, typ=CALLBACK_TYPE), jwks, member_id=MIS, hub_id=HUB
        )
    with pytest.raises(EnvelopeInvalid, match="type"):  # e.g. federation metadata passed off as a notification
        verify_batch_callback(
            sign_jwt(claims(), keys.signing_key, typ="hedui-federation+jwt"), jwks, member_id=MIS, hub_id=HUB
        )
    with pytest.raises(SignatureInvalid):
        verify_batch_callback(
            sign_jwt(claims(iss="someone"), keys.signing_key, typ=CALLBACK_TYPE), jwks, member_id=MIS, hub_id=HUB
        )
    other = "CN/GOV/11110101MB2222222J/street-mis"
    with pytest.raises(WrongAudience):
        verify_batch_callback(
            sign_jwt(claims(aud=other), keys.signing_key, typ=CALLBACK_TYPE), jwks, member_id=MIS, hub_id=HUB
        )
    token = sign_jwt(claims(), keys.signing_key, typ=CALLBACK_TYPE)
    head, body, signature = token.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}"
    with pytest.raises((SignatureInvalid, EnvelopeInvalid)):
        verify_batch_callback(tampered, jwks, member_id=MIS, hub_id=HUB)


def test_an_expired_or_incomplete_notification_is_refused(keys: HubKeys) -> None:
    jwks, now = keys.public_jwks(), int(time.time())
    expired = sign_jwt(claims(iat=now - 900, exp=now - CLOCK_LEEWAY_S - 1), keys.signing_key, typ=CALLBACK_TYPE)
    with pytest.raises(Expired):
        verify_batch_callback(expired, jwks, member_id=MIS, hub_id=HUB)
    for broken in (
        claims(exp="soon"),
        claims(jti=None),
        claims(iat=now + 3600),
        claims(state="open"),
        claims(batch_id=None),
    ):
        with pytest.raises(EnvelopeInvalid):
            verify_batch_callback(
                sign_jwt(broken, keys.signing_key, typ=CALLBACK_TYPE), jwks, member_id=MIS, hub_id=HUB
            )
