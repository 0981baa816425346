"""seal / open_envelope: round trips and every refusal of docs/architecture.md §4, each with its error class."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey

from gateway.envelope import MemoryReplayCache, StaticKeyResolver, open_envelope, request_binding, seal
from gateway.errors import (
    ConfigurationError,
    EnvelopeInvalid,
    Expired,
    Replayed,
    ResponseBindingInvalid,
    SignatureInvalid,
    WrongAudience,
)

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import EnvelopeKit


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _seal_request(kit: EnvelopeKit, **options: Any) -> Any:
    arguments: dict[str, Any] = {
        "issuer": kit.mis.member_id,
        "audience": kit.hub.member_id,
        "signing_key": kit.mis.signing_key,
        "recipient_key": kit.hub.encryption_key,
        "now": kit.now,
    }
    arguments.update(options)
    return seal(kit.body, **arguments)


class _SpyCache:
    """Records every call: proves the replay cache is reached only by otherwise valid messages."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, datetime]] = []

    async def remember(self, issuer: str, jti: str, expires_at: datetime) -> None:
        self.calls.append((issuer, jti, expires_at))


# -- round trips ---------------------------------------------------------------------------------------


async def test_request_opens_with_its_claims(kit: EnvelopeKit) -> None:
    sealed = _seal_request(kit)

    opened = await kit.open_at_hub(sealed.token)

    assert opened.body == kit.body
    assert (opened.issuer, opened.audience) == (kit.mis.member_id, kit.hub.member_id)
    assert (opened.issued_at, opened.expires_at) == (int(kit.now), int(kit.now) + 300)
    assert uuid.UUID(opened.jti).version == 4
    assert opened.req is None
    assert opened.signing_kid == kit.mis.signing_key.kid
    assert opened.jws == sealed.jws


async def test_headers_are_the_designed_ones(kit: EnvelopeKit) -> None:
    sealed = _seal_request(kit)

    outer = json.loads(base64.urlsafe_b64decode(sealed.token.split(".")[0] + "=="))
    inner = json.loads(base64.urlsafe_b64decode(sealed.jws.split(b".")[0] + b"=="))

    assert {name: outer[name] for name in ("alg", "enc", "kid", "cty")} == {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": kit.hub.encryption_key.kid,
        "cty": "JWT",
    }
    assert outer["epk"]["crv"] == "X25519"
    assert inner == {"alg": "Ed25519", "kid": kit.mis.signing_key.kid, "typ": "hedui+jwt"}


async def test_response_is_bound_to_its_request(kit: EnvelopeKit) -> None:
    request = _seal_request(kit)
    opened_request = await kit.open_at_hub(request.token)
    response = seal(
        {"status": "complete"},
        issuer=kit.hub.member_id,
        audience=kit.mis.member_id,
        signing_key=kit.hub.signing_key,
        recipient_key=kit.mis.encryption_key,
        request_jws=opened_request.jws,
        now=kit.now,
    )

    opened = await open_envelope(
        response.token,
        decryption_keys=kit.mis.decryption_keys,
        resolver=kit.resolver,
        audience=kit.mis.member_id,
        replay=MemoryReplayCache(),
        expected_request_jws=request.jws,
        now=kit.now,
    )

    assert opened.body == {"status": "complete"}
    assert opened.issuer == kit.hub.member_id
    assert opened.req == request_binding(request.jws)


def test_request_binding_is_unpadded_base64url_sha256() -> None:
    # FIPS 180-2 Appendix B.1: SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 ...
    assert request_binding(b"abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"


async def test_response_for_another_request_is_refused(kit: EnvelopeKit) -> None:
    request = _seal_request(kit)
    other_request = _seal_request(kit)
    response = seal(
        {"status": "complete"},
        issuer=kit.hub.member_id,
        audience=kit.mis.member_id,
        signing_key=kit.hub.signing_key,
        recipient_key=kit.mis.encryption_key,
        request_jws=other_request.jws,
        now=kit.now,
    )

    with pytest.raises(ResponseBindingInvalid):
        await open_envelope(
            response.token,
            decryption_keys=kit.mis.decryption_keys,
            resolver=kit.resolver,
            audience=kit.mis.member_id,
            replay=None,
            expected_request_jws=request.jws,
            now=kit.now,
        )


async def test_response_without_binding_is_refused_when_one_is_expected(kit: EnvelopeKit) -> None:
    request = _seal_request(kit)
    unbound = seal(
        {"status": "complete"},
        issuer=kit.hub.member_id,
        audience=kit.mis.member_id,
        signing_key=kit.hub.signing_key,
        recipient_key=kit.mis.encryption_key,
        now=kit.now,
    )

    with pytest.raises(ResponseBindingInvalid):
        await open_envelope(
            unbound.token,
            decryption_keys=kit.mis.decryption_keys,
            resolver=kit.resolver,
            audience=kit.mis.member_id,
            replay=None,
            expected_request_jws=request.jws,
            now=kit.now,
        )


async def test_p256_keys_and_es256_are_accepted(kit: EnvelopeKit) -> None:
    signing = ECKey.generate_key("P-256", {"use": "sig", "alg": "ES256"}, auto_kid=True)
    encryption = ECKey.generate_key("P-256", {"use": "enc", "alg": "ECDH-ES+A256KW"}, auto_kid=True)
    resolver = StaticKeyResolver({kit.mis.member_id: KeySet([signing])})
    sealed = _seal_request(kit, signing_key=signing, recipient_key=encryption)

    opened = await kit.open_at_hub(sealed.token, decryption_keys=KeySet([encryption]), resolver=resolver)

    assert opened.body == kit.body
    assert json.loads(base64.urlsafe_b64decode(sealed.jws.split(b".")[0] + b"=="))["alg"] == "ES256"


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
async def test_both_ed25519_names_are_accepted(kit: EnvelopeKit, alg: str) -> None:
    token = kit.encrypt(_forge_jws(kit, alg=alg))

    assert (await kit.open_at_hub(token)).body == kit.body


@pytest.mark.parametrize(
    ("request_alg", "response_alg"), [("Ed25519", "Ed25519"), ("EdDSA", "EdDSA"), (None, "Ed25519")]
)
def test_a_response_is_signed_under_the_ed25519_name_of_its_request(
    kit: EnvelopeKit, request_alg: str | None, response_alg: str
) -> None:
    # Older JOSE libraries (jose4j, nimbus-jose-jwt before RFC 9864) can verify only what is named "EdDSA".
    request_jws = None if request_alg is None else _forge_jws(kit, alg=request_alg)
    sealed = seal(
        {"ok": True},
        issuer=kit.hub.member_id,
        audience=kit.mis.member_id,
        signing_key=kit.hub.signing_key,
        recipient_key=kit.mis.encryption_key,
        request_jws=request_jws,
    )
    assert json.loads(base64.urlsafe_b64decode(sealed.jws.split(b".")[0] + b"=="))["alg"] == response_alg


def test_a_p256_key_signs_es256_whatever_the_request_used(kit: EnvelopeKit) -> None:
    signing = ECKey.generate_key("P-256", {"use": "sig", "alg": "ES256"}, auto_kid=True)
    sealed = _seal_request(kit, signing_key=signing, request_jws=_forge_jws(kit, alg="EdDSA"))
    assert json.loads(base64.urlsafe_b64decode(sealed.jws.split(b".")[0] + b"=="))["alg"] == "ES256"


async def test_media_type_may_carry_the_application_prefix(kit: EnvelopeKit) -> None:
    token = kit.encrypt(kit.sign(kit.claims(), typ="application/HEDUI+JWT"))

    assert (await kit.open_at_hub(token)).issuer == kit.mis.member_id


async def test_an_older_decryption_key_still_opens(kit: EnvelopeKit) -> None:
    newer = OKPKey.generate_key("X25519", {"use": "enc", "alg": "ECDH-ES+A256KW"}, auto_kid=True)
    keys = KeySet([newer, *kit.hub.decryption_keys])

    opened = await kit.open_at_hub(_seal_request(kit).token, decryption_keys=keys)

    assert opened.body == kit.body


async def test_repr_never_shows_the_body(kit: EnvelopeKit) -> None:
    sealed = _seal_request(kit)
    opened = await kit.open_at_hub(sealed.token)

    for text in (repr(sealed), repr(opened)):
        assert "11010519491231002X" not in text
        assert "张三" not in text
        assert sealed.jws.decode("ascii") not in text


# -- envelope structure and decryption: EnvelopeInvalid ------------------------------------------------


async def test_size_limit(kit: EnvelopeKit) -> None:
    sealed = _seal_request(kit)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(sealed.token, max_bytes=len(sealed.token) - 1)
    assert (await kit.open_at_hub(sealed.token, max_bytes=len(sealed.token))).body == kit.body


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        "a.b.c.d",
        "a.b.c.d.e.f",
        "eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.!.c.d.e",
        "Zm9v.a.b.c.d",  # a header that is not JSON
        "WzFd.a.b.c.d",  # a header that is a JSON array
        "eyJ9.a.b.c.d\n",
        "秘密.a.b.c.d",
    ],
)
async def test_malformed_tokens(kit: EnvelopeKit, token: str) -> None:
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(token)


async def test_a_bare_signed_jws_is_not_an_envelope(kit: EnvelopeKit) -> None:
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(_seal_request(kit).jws)


@pytest.mark.parametrize(
    ("alg", "enc", "key_type"),
    [
        ("ECDH-ES", "A256GCM", "X25519"),
        ("ECDH-ES+A128KW", "A128GCM", "X25519"),
        ("ECDH-ES+A256KW", "A256CBC-HS512", "X25519"),
        ("ECDH-ES+A256KW", "A128GCM", "X25519"),
        ("dir", "A256GCM", "oct"),
        ("A256KW", "A256GCM", "oct"),
        ("RSA-OAEP-256", "A256GCM", "RSA"),
    ],
)
async def test_other_encryption_algorithms_are_refused(kit: EnvelopeKit, alg: str, enc: str, key_type: str) -> None:
    key: Any
    if key_type == "oct":
        key = OctKey.generate_key(256, {"use": "enc"}, auto_kid=True)
    elif key_type == "RSA":
        key = RSAKey.generate_key(2048, {"use": "enc"}, auto_kid=True)
    else:
        key = kit.hub.encryption_key
    token = kit.encrypt(kit.sign(kit.claims()), key, alg=alg, enc=enc)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(token, decryption_keys=KeySet([*kit.hub.decryption_keys, key]))


@pytest.mark.parametrize("header", [{"cty": None}, {"cty": "json"}, {"zip": "DEF"}, {"kid": None}])
async def test_encryption_header_must_be_the_designed_one(kit: EnvelopeKit, header: dict[str, Any]) -> None:
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(kit.sign(kit.claims()), **header))


@pytest.mark.parametrize("segment", [0, 1, 2, 3, 4])
async def test_tampering_with_any_jwe_segment_is_detected(kit: EnvelopeKit, segment: int) -> None:
    parts = _seal_request(kit).token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    parts[segment] = _b64(bytes(raw))

    with pytest.raises(EnvelopeInvalid) as caught:
        await kit.open_at_hub(".".join(parts))
    kit.assert_no_personal_data(caught.value)


async def test_encrypted_to_another_key(kit: EnvelopeKit) -> None:
    stranger = OKPKey.generate_key("X25519", {"use": "enc"}, auto_kid=True)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(_seal_request(kit, recipient_key=stranger).token)


async def test_encrypted_to_another_key_under_our_kid(kit: EnvelopeKit) -> None:
    stranger = OKPKey.generate_key("X25519", {"use": "enc"})
    token = kit.encrypt(kit.sign(kit.claims()), stranger, kid=kit.hub.encryption_key.kid)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(token)


async def test_a_public_key_cannot_decrypt(kit: EnvelopeKit) -> None:
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(_seal_request(kit).token, decryption_keys=KeySet([kit.hub.encryption_key]))


async def test_ephemeral_key_on_another_curve(kit: EnvelopeKit) -> None:
    p256 = ECKey.generate_key("P-256", {"use": "enc"}, auto_kid=True)
    token = kit.encrypt(kit.sign(kit.claims()), p256, kid=kit.hub.encryption_key.kid)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(token)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"iss": NaN}', b"\xff\xfe"])
async def test_claims_that_are_not_a_json_object(kit: EnvelopeKit, payload: bytes) -> None:
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(kit.sign(payload)))


async def test_a_jws_in_json_serialization_is_refused(kit: EnvelopeKit) -> None:
    compact = kit.sign(kit.claims()).decode("ascii").split(".")
    flattened = json.dumps({"protected": compact[0], "payload": compact[1], "signature": compact[2]})

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(flattened.encode("ascii")))


@pytest.mark.parametrize("typ", [None, "JWT", "hedui+jws", 7])
async def test_the_inner_jws_must_be_explicitly_typed(kit: EnvelopeKit, typ: Any) -> None:
    signed = kit.sign(kit.claims(), typ=typ) if not isinstance(typ, int) else _forge_jws(kit, typ=typ)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(signed))


async def test_critical_extensions_are_refused(kit: EnvelopeKit) -> None:
    signed = _forge_jws(kit, crit=["exp"], exp=1)

    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(signed))


def _forge_jws(kit: EnvelopeKit, **header: Any) -> bytes:
    """A JWS whose header joserfc would not build: signed here with the raw Ed25519 key."""
    protected = {"alg": "Ed25519", "kid": kit.mis.signing_key.kid, "typ": "hedui+jwt", **header}
    signing_input = f"{_b64(json.dumps(protected).encode())}.{_b64(json.dumps(kit.claims()).encode())}".encode()
    signature = kit.mis.signing_key.private_key.sign(signing_input)  # type: ignore[union-attr]
    return signing_input + b"." + _b64(signature).encode()


# -- missing or ill-typed claims: EnvelopeInvalid ------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "DELETE"),
        ("iss", 42),
        ("iss", ""),
        ("aud", "DELETE"),
        ("aud", ["CN/GOV/11100000000013127D/hub"]),
        ("iat", "DELETE"),
        ("iat", "1782000000"),
        ("iat", True),
        ("exp", "DELETE"),
        ("exp", None),
        ("jti", "DELETE"),
        ("jti", "not-a-uuid"),
        ("jti", 7),
        ("body", "DELETE"),
        ("body", ["a list"]),
        ("req", 5),
    ],
)
async def test_missing_or_ill_typed_claims(kit: EnvelopeKit, claim: str, value: Any) -> None:
    token = kit.request(**{claim: kit.DELETE if value == "DELETE" else value})

    with pytest.raises(EnvelopeInvalid) as caught:
        await kit.open_at_hub(token)
    assert type(caught.value) is EnvelopeInvalid
    kit.assert_no_personal_data(caught.value)


async def test_non_integer_numeric_dates_are_accepted(kit: EnvelopeKit) -> None:
    opened = await kit.open_at_hub(kit.request(iat=kit.now + 0.5, exp=kit.now + 299.5))

    assert (opened.issued_at, opened.expires_at) == (int(kit.now), int(kit.now) + 299)


# -- the signature: SignatureInvalid -------------------------------------------------------------------


async def test_signed_by_an_unregistered_key(kit: EnvelopeKit) -> None:
    stranger = OKPKey.generate_key("Ed25519", {"use": "sig"}, auto_kid=True)

    with pytest.raises(SignatureInvalid) as caught:
        await kit.open_at_hub(_seal_request(kit, signing_key=stranger).token)
    kit.assert_no_personal_data(caught.value)


async def test_signed_by_an_unregistered_key_under_a_registered_kid(kit: EnvelopeKit) -> None:
    stranger = OKPKey.generate_key("Ed25519", {"use": "sig", "kid": kit.mis.signing_key.kid})

    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(_seal_request(kit, signing_key=stranger).token)


async def test_unknown_issuer(kit: EnvelopeKit) -> None:
    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(kit.request(iss="CN/GOV/11110105000000000M/unknown"))


async def test_the_key_must_belong_to_the_claimed_issuer(kit: EnvelopeKit) -> None:
    other = kit.party("CN/COM/91110000000000000A/other")
    resolver = StaticKeyResolver(
        {
            kit.hub.member_id: kit.hub.public_jwks,
            kit.mis.member_id: kit.mis.public_jwks,
            other.member_id: other.public_jwks,
        }
    )
    # Signed with a registered key, but one registered to another member than "iss".
    token = kit.encrypt(kit.sign(kit.claims(iss=kit.mis.member_id), other.signing_key))

    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(token, resolver=resolver)


async def test_modified_claims_break_the_signature(kit: EnvelopeKit) -> None:
    header, _, signature = kit.sign(kit.claims()).split(b".")
    altered = _b64(json.dumps(kit.claims(body={"case_id": "other"})).encode()).encode()

    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(kit.encrypt(b".".join([header, altered, signature])))


async def test_missing_kid_in_the_signature(kit: EnvelopeKit) -> None:
    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(kit.encrypt(kit.sign(kit.claims(), kid=None)))


async def test_alg_none_is_refused(kit: EnvelopeKit) -> None:
    header = {"alg": "none", "kid": kit.mis.signing_key.kid, "typ": "hedui+jwt"}
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(kit.claims()).encode())}.".encode()

    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(kit.encrypt(unsigned))


async def test_hs256_keyed_with_the_public_key_is_refused(kit: EnvelopeKit) -> None:
    # The classic algorithm confusion: an HMAC keyed with the sender's public key bytes.
    public_x = kit.mis.signing_key.as_dict()["x"].encode()
    header = {"alg": "HS256", "kid": kit.mis.signing_key.kid, "typ": "hedui+jwt"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(kit.claims()).encode())}".encode()
    mac = hmac.digest(public_x, signing_input, "sha256")

    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(kit.encrypt(signing_input + b"." + _b64(mac).encode()))


async def test_es256_header_over_an_ed25519_key_is_refused(kit: EnvelopeKit) -> None:
    p256 = ECKey.generate_key("P-256", {"use": "sig"})
    token = kit.encrypt(kit.sign(kit.claims(), p256, alg="ES256", kid=kit.mis.signing_key.kid))

    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(token)


# -- times: Expired ------------------------------------------------------------------------------------


async def test_a_lifetime_over_300_seconds_is_refused(kit: EnvelopeKit) -> None:
    with pytest.raises(Expired):
        await kit.open_at_hub(kit.request(exp=int(kit.now) + 301))
    assert (await kit.open_at_hub(kit.request(exp=int(kit.now) + 300))).body == kit.body


@pytest.mark.parametrize("exp_offset", [0, -1])
async def test_exp_not_after_iat_is_refused(kit: EnvelopeKit, exp_offset: int) -> None:
    with pytest.raises(Expired):
        await kit.open_at_hub(kit.request(exp=int(kit.now) + exp_offset))


async def test_expiry_allows_60_seconds_of_skew(kit: EnvelopeKit) -> None:
    sealed = _seal_request(kit, now=kit.now - 300 - 59)
    assert (await kit.open_at_hub(sealed.token)).body == kit.body

    late = _seal_request(kit, now=kit.now - 300 - 60)
    with pytest.raises(Expired) as caught:
        await kit.open_at_hub(late.token)
    kit.assert_no_personal_data(caught.value)


async def test_issued_in_the_future_allows_60_seconds_of_skew(kit: EnvelopeKit) -> None:
    assert (await kit.open_at_hub(_seal_request(kit, now=kit.now + 60).token)).body == kit.body

    with pytest.raises(Expired):
        await kit.open_at_hub(_seal_request(kit, now=kit.now + 61).token)


# -- audience and replay -------------------------------------------------------------------------------


async def test_wrong_audience(kit: EnvelopeKit) -> None:
    with pytest.raises(WrongAudience) as caught:
        await kit.open_at_hub(_seal_request(kit, audience="CN/GOV/11100000000013127D/other-hub").token)
    kit.assert_no_personal_data(caught.value)


async def test_a_second_use_of_the_same_jti_is_a_replay(kit: EnvelopeKit) -> None:
    sealed = _seal_request(kit)
    await kit.open_at_hub(sealed.token)

    with pytest.raises(Replayed):
        await kit.open_at_hub(sealed.token)


async def test_the_jti_is_remembered_until_exp_plus_skew(kit: EnvelopeKit) -> None:
    spy = _SpyCache()
    opened = await kit.open_at_hub(_seal_request(kit).token, replay=spy)

    assert [(issuer, jti, at.timestamp()) for issuer, jti, at in spy.calls] == [
        (kit.mis.member_id, opened.jti, opened.expires_at + 60)
    ]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"aud": "CN/GOV/11100000000013127D/other-hub"}, WrongAudience),
        ({"exp": 1_000_000_300, "iat": 1_000_000_000}, Expired),
        ({"iss": "CN/GOV/11110105000000000M/unknown"}, SignatureInvalid),
        ({"jti": "reused"}, EnvelopeInvalid),
    ],
)
async def test_the_replay_cache_sees_only_otherwise_valid_messages(
    kit: EnvelopeKit, change: dict[str, Any], error: type[Exception]
) -> None:
    spy = _SpyCache()

    with pytest.raises(error):
        await kit.open_at_hub(kit.request(**change), replay=spy)
    assert spy.calls == []


async def test_a_refused_binding_does_not_use_up_the_jti(kit: EnvelopeKit) -> None:
    spy = _SpyCache()

    with pytest.raises(ResponseBindingInvalid):
        await kit.open_at_hub(_seal_request(kit).token, replay=spy, expected_request_jws=b"another request")
    assert spy.calls == []


# -- sealing misuse ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lifetime_s", [0, -5, 301])
def test_seal_refuses_lifetimes_outside_1_to_300(kit: EnvelopeKit, lifetime_s: int) -> None:
    with pytest.raises(ValueError, match="lifetime_s"):
        _seal_request(kit, lifetime_s=lifetime_s)


def test_seal_needs_a_suite_signing_key(kit: EnvelopeKit) -> None:
    with pytest.raises(ConfigurationError):
        _seal_request(kit, signing_key=kit.hub.encryption_key)
    with pytest.raises(ConfigurationError):
        _seal_request(kit, signing_key=KeySet.import_key_set(kit.mis.public_jwks).keys[0])
    with pytest.raises(ConfigurationError):
        _seal_request(kit, signing_key=RSAKey.generate_key(2048, {"use": "sig"}))


def test_seal_needs_a_suite_encryption_key(kit: EnvelopeKit) -> None:
    with pytest.raises(ConfigurationError):
        _seal_request(kit, recipient_key=kit.mis.signing_key)
    with pytest.raises(ConfigurationError):
        _seal_request(kit, recipient_key=ECKey.generate_key("P-384", {"use": "enc"}))


def test_seal_refuses_a_body_that_is_not_json(kit: EnvelopeKit) -> None:
    with pytest.raises(TypeError):
        seal(
            {"when": datetime.now()},
            issuer=kit.mis.member_id,
            audience=kit.hub.member_id,
            signing_key=kit.mis.signing_key,
            recipient_key=kit.hub.encryption_key,
        )
