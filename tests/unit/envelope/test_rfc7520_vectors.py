"""Published vectors for the envelope's primitives (tests/vectors/*/SELECTION.md): joserfc, configured as the
envelope configures it, must reproduce or decrypt them exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwe, jws
from joserfc.errors import BadSignatureError, DecodeError
from joserfc.jwk import import_key

from gateway.envelope._suite import signature_registry

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
COOKBOOK = VECTORS / "ietf-jose-cookbook"
JOSERFC = VECTORS / "joserfc-rfc7520" / "tests"
# RFC 7520 §5: the plaintext of every JWE example.
SECTION_5 = COOKBOOK / "jwe" / "5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_ed25519_signature_is_reproduced_byte_for_byte() -> None:
    # RFC 8037 Appendix A.4: Ed25519 is deterministic, so the whole compact JWS must match.
    vector = _load(COOKBOOK / "curve25519" / "jws.json")
    key = import_key(vector["input"]["key"])

    produced = jws.serialize_compact(
        vector["signing"]["protected"], vector["input"]["payload"], key, registry=signature_registry(4096)
    )

    assert produced == vector["output"]["compact"]


def test_ed25519_signature_verifies_and_a_flipped_bit_does_not() -> None:
    # RFC 8037 Appendix A.5.
    vector = _load(COOKBOOK / "curve25519" / "jws.json")
    public = import_key({name: value for name, value in vector["input"]["key"].items() if name != "d"})
    compact = vector["output"]["compact"]

    verified = jws.deserialize_compact(compact, public, registry=signature_registry(4096))
    assert verified.payload.decode() == vector["input"]["payload"]

    header, payload, signature = compact.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(f"{header}.{payload}.{flipped}", public, registry=signature_registry(4096))


def test_x25519_ecdh_es_decrypts() -> None:
    # ECDH-ES on X25519 (RFC 8037 §3.2) with the Concat KDF of RFC 7518 §4.6.2.
    vector = _load(COOKBOOK / "curve25519" / "ecdh-es.json")
    key = import_key(vector["input"]["key"])

    decrypted = jwe.decrypt_compact(vector["output"]["compact"], key, algorithms=["ECDH-ES", "A128GCM"])

    assert decrypted.plaintext is not None
    assert decrypted.plaintext.decode("utf-8") == vector["input"]["plaintext"]
    assert decrypted.protected["epk"]["crv"] == "X25519"


@pytest.mark.parametrize("serialization", ["compact", "json_flat"])
def test_rfc7520_5_4_ecdh_es_key_wrap_with_aes_gcm_decrypts(serialization: str) -> None:
    # RFC 7520 §5.4: ECDH-ES+A128KW with A128GCM, the same construction as ECDH-ES+A256KW with A256GCM.
    vector = _load(SECTION_5)
    key = import_key(vector["input"]["key"])
    algorithms = [vector["input"]["alg"], vector["input"]["enc"]]

    if serialization == "compact":
        decrypted: Any = jwe.decrypt_compact(vector["output"]["compact"], key, algorithms=algorithms)
    else:
        decrypted = jwe.decrypt_json(vector["output"]["json_flat"], key, algorithms=algorithms)

    assert decrypted.plaintext.decode("utf-8") == vector["input"]["plaintext"]
    assert decrypted.protected == vector["encrypting_content"]["protected"]


def test_rfc7520_5_4_refuses_a_tampered_tag() -> None:
    vector = _load(SECTION_5)
    key = import_key(vector["input"]["key"])
    parts = vector["output"]["compact"].split(".")
    parts[4] = parts[4][:5] + ("A" if parts[4][5] != "A" else "B") + parts[4][6:]

    # joserfc reports the failed GCM tag check (RFC 7516 §5.2 step 16) as a DecodeError.
    with pytest.raises(DecodeError):
        jwe.decrypt_compact(".".join(parts), key, algorithms=[vector["input"]["alg"], vector["input"]["enc"]])


@pytest.mark.parametrize("name", ["RFC7520-EC-108.json", "RFC7520-EC-120.json"])
def test_joserfc_fixture_key_agreement_cases_decrypt(name: str) -> None:
    # RFC 7520 §5.4 (P-384, key wrap) and §5.5 (P-256, direct agreement) as joserfc's own fixtures hold them.
    cases = [case for case in _load(JOSERFC / "fixtures" / "jwe_rfc7520.json")["tests"] if case["key"] == name]
    key = import_key(_load(JOSERFC / "keys" / name))
    plaintext = _load(SECTION_5)["input"]["plaintext"]

    assert len(cases) == 1
    case = cases[0]
    decrypted = jwe.decrypt_compact(
        case["compact"], key, algorithms=[case["protected"]["alg"], case["protected"]["enc"]]
    )

    assert decrypted.plaintext is not None
    assert decrypted.plaintext.decode("utf-8") == plaintext
    assert decrypted.protected["epk"]["crv"] == case["epk"]["crv"]
