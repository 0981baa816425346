"""The log key file: created owner-only, never overwritten by accident, published as a JWK and a verifier key."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from gateway.audit.checkpoint import Checkpoint, open_checkpoint, parse_verifier_key
from gateway.audit.keys import LOG_KEY_FILE, LogKey, init_log_key, log_origin
from gateway.errors import ConfigurationError

HUB = "CN/GOV/11100000MB0348916Y/hub"


def test_the_key_file_is_private_and_not_replaced_unless_forced(tmp_path: Path) -> None:
    path = init_log_key(tmp_path / "keys")
    first = path.read_bytes()

    assert path.name == LOG_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        init_log_key(tmp_path / "keys")
    assert path.read_bytes() == first
    init_log_key(tmp_path / "keys", force=True)
    assert path.read_bytes() != first


def test_public_jwk_is_the_verify_only_half_with_a_thumbprint_kid(tmp_path: Path) -> None:
    init_log_key(tmp_path)
    key = LogKey.load(tmp_path, name=log_origin(HUB))
    jwk = key.public_jwk()

    assert "d" not in jwk
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"], jwk["key_ops"]) == (
        "OKP",
        "Ed25519",
        "sig",
        "Ed25519",
        ["verify"],
    )
    # RFC 7638 §3.2: SHA-256 over the required members in lexicographic order, no whitespace.
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"))
    assert jwk["kid"] == base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    name, public = parse_verifier_key(key.verifier_key())
    assert name == f"{HUB}/audit"
    assert base64.urlsafe_b64encode(public.public_bytes_raw()).rstrip(b"=").decode() == jwk["x"]


def test_checkpoints_signed_with_the_key_open_with_its_verifier_key(tmp_path: Path) -> None:
    init_log_key(tmp_path)
    key = LogKey.load(tmp_path, name=log_origin(HUB))
    note = key.sign(Checkpoint(key.name, 7, bytes(32)), timestamp=1)

    assert open_checkpoint(note, key.verifier_key()).checkpoint.size == 7
    with pytest.raises(ConfigurationError):
        key.sign(Checkpoint("another/origin", 7, bytes(32)), timestamp=1)
    private = json.loads((tmp_path / LOG_KEY_FILE).read_text())["d"]
    assert private not in repr(key) and key.kid in repr(key)


def test_a_missing_or_foreign_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="hedui keys init"):
        LogKey.load(tmp_path, name="x")
    (tmp_path / LOG_KEY_FILE).write_text(json.dumps({"kty": "oct", "k": "AAAA"}))
    with pytest.raises(ConfigurationError):
        LogKey.load(tmp_path, name="x")
