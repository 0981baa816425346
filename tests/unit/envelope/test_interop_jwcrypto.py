"""Interoperability with jwcrypto, a second JOSE implementation (docs/architecture.md §4: what a standard library
produces with the envelope's algorithms is accepted, and what seal() produces opens there)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from joserfc.jwk import ECKey, Key, KeySet, OKPKey
from jwcrypto import jwe as cjwe
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from gateway.envelope import StaticKeyResolver, seal

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import EnvelopeKit


def _jwcrypto_key(key: Key, *, private: bool) -> cjwk.JWK:
    return cjwk.JWK(**key.as_dict(private=private))


def _first(jwks: dict[str, Any], use: str) -> Key:
    return next(key for key in KeySet.import_key_set(jwks) if key.get("use") == use)


def _jwcrypto_envelope(claims: dict[str, Any], signer: Key, alg: str, recipient: Key) -> str:
    """A request made with jwcrypto alone, by the recipe of docs/envelope.md."""
    signed = cjws.JWS(json.dumps(claims).encode("utf-8"))
    signed.add_signature(
        _jwcrypto_key(signer, private=True),
        alg=None,
        protected=json.dumps({"alg": alg, "kid": signer.kid, "typ": "hedui+jwt"}),
    )
    inner = signed.serialize(compact=True)
    header = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": recipient.kid, "cty": "JWT"}
    encrypted = cjwe.JWE(inner.encode("ascii"), protected=json.dumps(header))
    encrypted.add_recipient(_jwcrypto_key(recipient, private=False))
    return str(encrypted.serialize(compact=True))


@pytest.mark.parametrize(
    ("alg", "signing_curve", "encryption_curve"),
    [("Ed25519", "Ed25519", "X25519"), ("EdDSA", "Ed25519", "X25519"), ("ES256", "P-256", "P-256")],
)
async def test_a_jwcrypto_request_opens(kit: EnvelopeKit, alg: str, signing_curve: str, encryption_curve: str) -> None:
    signer: Key
    recipient: Key
    if signing_curve == "P-256":
        signer = ECKey.generate_key("P-256", {"use": "sig", "alg": "ES256"}, auto_kid=True)
        recipient = ECKey.generate_key("P-256", {"use": "enc", "alg": "ECDH-ES+A256KW"}, auto_kid=True)
    else:
        signer = OKPKey.generate_key("Ed25519", {"use": "sig", "alg": "Ed25519"}, auto_kid=True)
        recipient = OKPKey.generate_key("X25519", {"use": "enc", "alg": "ECDH-ES+A256KW"}, auto_kid=True)
    now = int(time.time())
    claims = {
        "iss": kit.mis.member_id,
        "aud": kit.hub.member_id,
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
        "body": kit.body,
    }
    token = _jwcrypto_envelope(claims, signer, alg, recipient)

    opened = await kit.open_at_hub(
        token,
        decryption_keys=KeySet([recipient]),
        resolver=StaticKeyResolver({kit.mis.member_id: KeySet([signer])}),
        now=None,
    )

    assert opened.body == kit.body
    assert (opened.jti, opened.issued_at, opened.expires_at) == (claims["jti"], now, now + 120)
    assert opened.signing_kid == signer.kid


async def test_a_sealed_response_opens_and_verifies_with_jwcrypto(kit: EnvelopeKit) -> None:
    request_jws = b"header.payload.signature"
    sealed = seal(
        {"status": "complete", "indicators": {"household_size": 3}},
        issuer=kit.hub.member_id,
        audience=kit.mis.member_id,
        signing_key=kit.hub.signing_key,
        recipient_key=kit.mis.encryption_key,
        request_jws=request_jws,
    )

    encrypted = cjwe.JWE()
    encrypted.deserialize(sealed.token, key=_jwcrypto_key(_first(kit.mis.private_jwks, "enc"), private=True))
    assert encrypted.jose_header["alg"] == "ECDH-ES+A256KW"
    assert encrypted.jose_header["enc"] == "A256GCM"
    assert encrypted.jose_header["cty"] == "JWT"
    signed = cjws.JWS()
    signed.deserialize(encrypted.payload.decode("ascii"))
    signed.verify(_jwcrypto_key(_first(kit.hub.public_jwks, "sig"), private=False))

    assert encrypted.payload == sealed.jws
    assert signed.jose_header == {"alg": "Ed25519", "kid": kit.hub.signing_key.kid, "typ": "hedui+jwt"}
    claims = json.loads(signed.payload)
    assert claims["iss"] == kit.hub.member_id
    assert claims["aud"] == kit.mis.member_id
    assert claims["body"] == {"status": "complete", "indicators": {"household_size": 3}}
    expected_req = base64.urlsafe_b64encode(hashlib.sha256(request_jws).digest()).rstrip(b"=").decode()
    assert claims["req"] == expected_req
    assert claims["exp"] - claims["iat"] == 300
