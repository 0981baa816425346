"""Pathological JSON anywhere in an envelope (issue 11 defect 2): deep nesting in the JWE or JWS header or
in the signed body, NaN and infinities, integers beyond 64 bits and repeated header names are each a clean
:class:`EnvelopeInvalid`, never a RecursionError or an overflow further on."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

from gateway.envelope.jwt import numeric_date, unverified_claims, unverified_header
from gateway.errors import EnvelopeInvalid, SignatureInvalid

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import EnvelopeKit

DEEP = 100_000  # far past CPython's recursion limit


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _raw_jws(kit: EnvelopeKit, header: bytes, payload: bytes) -> bytes:
    signing_input = _b64(header) + b"." + _b64(payload)
    return signing_input + b"." + _b64(kit.mis.signing_key.private_key.sign(signing_input))  # type: ignore[union-attr]


def _deep(inner: str = "1") -> str:
    return "[" * DEEP + inner + "]" * DEEP


async def test_a_deeply_nested_jwe_header_is_refused(kit: EnvelopeKit) -> None:
    header = b'{"alg":"ECDH-ES+A256KW","enc":"A256GCM","x":' + _deep().encode() + b"}"
    token = _b64(header) + b".." + b"AAAA" + b"." + b"AAAA" + b"." + b"AAAA"
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(token, max_bytes=10_000_000)


async def test_a_deeply_nested_jws_header_is_refused(kit: EnvelopeKit) -> None:
    header = json.dumps({"alg": "Ed25519", "kid": kit.mis.signing_key.kid, "typ": "hedui+jwt"})[:-1]
    signed = _raw_jws(kit, f'{header},"x":{_deep()}}}'.encode(), json.dumps(kit.claims()).encode())
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(signed), max_bytes=10_000_000)


async def test_a_deeply_nested_body_is_refused(kit: EnvelopeKit) -> None:
    claims = json.dumps({**kit.claims(), "body": {}})[:-1] + f',"deep":{_deep()}}}'
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(kit.sign(claims.encode())), max_bytes=10_000_000)


@pytest.mark.parametrize(
    "exp",
    ["NaN", "Infinity", "-Infinity", "1e999", "9223372036854775808", "1" + "0" * 30, "1e300", "-1"],
)
async def test_exp_outside_any_usable_time_is_refused(kit: EnvelopeKit, exp: str) -> None:
    claims = json.dumps(kit.claims(exp=0)).replace('"exp": 0', f'"exp": {exp}')
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(kit.sign(claims.encode())))


async def test_a_huge_integer_in_the_body_is_refused(kit: EnvelopeKit) -> None:
    claims = json.dumps(kit.claims()).replace('"case_id"', '"after": 99999999999999999999999, "case_id"')
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(kit.sign(claims.encode())))


async def test_a_repeated_header_name_is_refused(kit: EnvelopeKit) -> None:
    header = json.dumps({"alg": "Ed25519", "kid": kit.mis.signing_key.kid, "typ": "hedui+jwt"})
    signed = _raw_jws(kit, (header[:-1] + ', "alg": "none"}').encode(), json.dumps(kit.claims()).encode())
    with pytest.raises(EnvelopeInvalid):
        await kit.open_at_hub(kit.encrypt(signed))


@pytest.mark.parametrize("kid", ["a\u0000b", "a\nb", "k" * 200, "ключ"])
async def test_key_ids_that_could_not_name_a_key_are_refused_before_any_lookup(kit: EnvelopeKit, kid: str) -> None:
    header = json.dumps({"alg": "Ed25519", "kid": kid, "typ": "hedui+jwt"}).encode()
    with pytest.raises(SignatureInvalid):
        await kit.open_at_hub(kit.encrypt(_raw_jws(kit, header, json.dumps(kit.claims()).encode())))


@pytest.mark.parametrize("token", [_b64(("[" * DEEP).encode()) + b".e30.AAAA", b"e30.e30", "ey\u00e9.e30.AAAA"])
def test_unverified_header_reads_are_bounded(token: Any) -> None:
    with pytest.raises(EnvelopeInvalid):
        unverified_header(token)


@pytest.mark.parametrize("token", [b"e30." + _b64(('{"a":' * DEEP).encode()) + b".AAAA", b"e30.e30"])
def test_unverified_claims_reads_are_bounded(token: Any) -> None:
    with pytest.raises(EnvelopeInvalid):
        unverified_claims(token)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1_782_000_000, 1_782_000_000),
        (1_782_000_000.9, 1_782_000_000),
        (0, 0),
        (float("nan"), None),
        (float("inf"), None),
        (1e300, None),
        (-1, None),
        (True, None),
        ("1782000000", None),
        (None, None),
    ],
)
def test_numeric_date(value: Any, seconds: int | None) -> None:
    assert numeric_date(value) == seconds
