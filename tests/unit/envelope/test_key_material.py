"""gateway.envelope.keys: member key generation, the hub's key directory, JWKS loading."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, KeySet, OKPKey

from gateway.envelope import (
    HubKeys,
    KeyRing,
    StaticKeyResolver,
    generate_member_jwks,
    init_key_dir,
    load_jwks,
    open_envelope,
    private_encryption_key,
    private_signing_key,
    public_encryption_key,
    seal,
)
from gateway.envelope.keys import (
    JWKS_FILE,
    STORAGE_KEY_FILE,
    SUBJECT_PEPPER_FILE,
    rotate_key_dir,
    write_private_file,
)
from gateway.errors import ConfigurationError


def _rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    # RFC 7638 §3.2 with RFC 8037 §2: the required members of an OKP key, sorted, no whitespace.
    canonical = json.dumps({name: jwk[name] for name in ("crv", "kty", "x")}, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave files world-readable, to show the modes are set, not inherited."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


# -- member keys ---------------------------------------------------------------------------------------


def test_member_jwks_hold_one_signing_and_one_encryption_key() -> None:
    private_jwks, public_jwks = generate_member_jwks()

    assert [(key["kty"], key["crv"], key["use"], key["alg"]) for key in public_jwks["keys"]] == [
        ("OKP", "Ed25519", "sig", "Ed25519"),
        ("OKP", "X25519", "enc", "ECDH-ES+A256KW"),
    ]
    assert all("d" in key for key in private_jwks["keys"])
    assert not any("d" in key for key in public_jwks["keys"])
    assert [key["x"] for key in private_jwks["keys"]] == [key["x"] for key in public_jwks["keys"]]


def test_member_kids_are_rfc7638_thumbprints() -> None:
    _, public_jwks = generate_member_jwks()

    for jwk in public_jwks["keys"]:
        assert jwk["kid"] == _rfc7638_thumbprint(jwk)


def test_every_member_gets_new_keys() -> None:
    first, _ = generate_member_jwks()
    second, _ = generate_member_jwks()

    assert {key["d"] for key in first["keys"]}.isdisjoint(key["d"] for key in second["keys"])


def test_private_key_helpers_pick_the_first_key_of_each_use() -> None:
    private_jwks, _ = generate_member_jwks()
    older_signing = OKPKey.generate_key("Ed25519", {"use": "sig", "alg": "Ed25519"}, auto_kid=True)
    rotated = {"keys": [*private_jwks["keys"], older_signing.as_dict(private=True)]}

    assert private_signing_key(rotated).kid == private_jwks["keys"][0]["kid"]
    assert private_encryption_key(KeySet.import_key_set(rotated)).kid == private_jwks["keys"][1]["kid"]


def test_private_key_helpers_refuse_public_or_unfit_keys() -> None:
    _, public_jwks = generate_member_jwks()
    p384 = ECKey.generate_key("P-384", {"use": "enc"}, auto_kid=True)

    with pytest.raises(ConfigurationError):
        private_signing_key(public_jwks)
    with pytest.raises(ConfigurationError):
        private_encryption_key(public_jwks)
    with pytest.raises(ConfigurationError):
        private_encryption_key(KeySet([p384]))
    with pytest.raises(ConfigurationError):
        private_signing_key({"keys": "not a list of keys"})


def test_public_encryption_key_is_the_first_enc_key_without_its_private_part() -> None:
    private_jwks, public_jwks = generate_member_jwks()
    newer = OKPKey.generate_key("X25519", {"use": "enc", "alg": "ECDH-ES+A256KW"}, auto_kid=True)
    rotated = {"keys": [newer.as_dict(private=True), *private_jwks["keys"]]}

    assert public_encryption_key(public_jwks).as_dict() == public_jwks["keys"][1]
    from_private = public_encryption_key(private_jwks)
    assert not from_private.is_private
    assert from_private.as_dict() == public_jwks["keys"][1]
    assert public_encryption_key(rotated).kid == newer.kid


def test_public_encryption_key_refuses_unfit_or_missing_keys() -> None:
    _, public_jwks = generate_member_jwks()

    with pytest.raises(ConfigurationError):
        public_encryption_key({"keys": public_jwks["keys"][:1]})
    with pytest.raises(ConfigurationError):
        public_encryption_key(KeySet([ECKey.generate_key("P-521", {"use": "enc"}, auto_kid=True)]))


# -- the hub's key directory ---------------------------------------------------------------------------


@pytest.mark.usefixtures("permissive_umask")
def test_init_writes_private_files_0600_in_a_0700_directory(tmp_path: Path) -> None:
    key_dir = tmp_path / "var" / "keys"

    init_key_dir(key_dir)

    assert _mode(key_dir) == 0o700
    assert sorted(path.name for path in key_dir.iterdir()) == sorted([JWKS_FILE, STORAGE_KEY_FILE, SUBJECT_PEPPER_FILE])
    for path in key_dir.iterdir():
        assert _mode(path) == 0o600, path.name


def test_init_tightens_an_existing_directory(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o755)
    key_dir.chmod(0o755)

    init_key_dir(key_dir)

    assert _mode(key_dir) == 0o700


def test_load_returns_what_init_wrote(tmp_path: Path) -> None:
    written = init_key_dir(tmp_path / "keys")

    loaded = HubKeys.load(tmp_path / "keys")

    assert loaded.signing_key.kid == written.signing_key.kid
    assert loaded.encryption_key.kid == written.encryption_key.kid
    assert loaded.signing_key.as_dict(private=True) == written.signing_key.as_dict(private=True)
    assert loaded.storage_key == written.storage_key
    assert loaded.subject_pepper == written.subject_pepper
    assert len(loaded.storage_key) == 32
    assert len(loaded.subject_pepper) == 32
    assert loaded.storage_key != loaded.subject_pepper
    assert [key.kid for key in loaded.decryption_keys] == [written.encryption_key.kid]


def test_init_refuses_to_overwrite_existing_keys(tmp_path: Path) -> None:
    first = init_key_dir(tmp_path / "keys")
    before = {path.name: path.read_bytes() for path in (tmp_path / "keys").iterdir()}

    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        init_key_dir(tmp_path / "keys")

    assert {path.name: path.read_bytes() for path in (tmp_path / "keys").iterdir()} == before
    replaced = init_key_dir(tmp_path / "keys", force=True)
    assert replaced.signing_key.kid != first.signing_key.kid
    assert replaced.storage_key != first.storage_key


def test_init_refuses_even_when_only_one_file_exists(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / STORAGE_KEY_FILE).write_text("kept\n")

    with pytest.raises(ConfigurationError):
        init_key_dir(tmp_path / "keys")
    assert (tmp_path / "keys" / STORAGE_KEY_FILE).read_text() == "kept\n"


def test_public_jwks_carry_no_private_material(tmp_path: Path) -> None:
    keys = init_key_dir(tmp_path / "keys")

    published = keys.public_jwks()

    assert [(key["use"], key["kid"]) for key in published["keys"]] == [
        ("sig", keys.signing_key.kid),
        ("enc", keys.encryption_key.kid),
    ]
    assert not any("d" in key for key in published["keys"])
    assert all(key["kid"] == _rfc7638_thumbprint(key) for key in published["keys"])


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    keys = init_key_dir(tmp_path / "keys")

    text = repr(keys)

    assert keys.signing_key.kid in text
    assert keys.storage_key.hex() not in text
    for secret in (keys.storage_key, keys.subject_pepper):
        assert base64.urlsafe_b64encode(secret).rstrip(b"=").decode() not in text
    assert str(keys.signing_key.as_dict(private=True)["d"]) not in text


async def test_a_rotated_directory_keeps_opening_messages_for_the_old_key(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    old = init_key_dir(key_dir)
    member_private, member_public = generate_member_jwks()
    member_id = "CN/GOV/11110105000000000M/dibao"
    hub_id = "CN/GOV/11100000000013127D/hub"
    sealed_to_old = seal(
        {"case_id": "c-1"},
        issuer=member_id,
        audience=hub_id,
        signing_key=private_signing_key(member_private),
        recipient_key=old.encryption_key,
    )
    # Rotation as keys/README.md describes it: the new key goes first, the old one stays behind it.
    newer = OKPKey.generate_key("X25519", {"use": "enc", "alg": "ECDH-ES+A256KW"}, auto_kid=True)
    jwks = json.loads((key_dir / JWKS_FILE).read_text())
    jwks["keys"].insert(0, newer.as_dict(private=True))
    (key_dir / JWKS_FILE).write_text(json.dumps(jwks))

    rotated = HubKeys.load(key_dir)
    opened = await open_envelope(
        sealed_to_old.token,
        decryption_keys=rotated.decryption_keys,
        resolver=StaticKeyResolver({member_id: member_public}),
        audience=hub_id,
        replay=None,
    )

    assert rotated.encryption_key.kid == newer.kid
    assert [key.kid for key in rotated.decryption_keys] == [newer.kid, old.encryption_key.kid]
    assert [key["kid"] for key in rotated.public_jwks()["keys"] if key["use"] == "enc"] == [
        newer.kid,
        old.encryption_key.kid,
    ]
    assert opened.body == {"case_id": "c-1"}


def test_a_key_ring_reloads_every_rewrite_once_a_second(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    init_key_dir(key_dir)
    _, first_enc = rotate_key_dir(key_dir, grace_s=0)
    now = [1000.0]
    ring = KeyRing(key_dir, clock=lambda: now[0])
    assert ring.current.encryption_key.kid == first_enc
    # Same size, same mtime (two writes within one tick of the file system's coarse clock): only the
    # inode of the renamed-in file tells the rewrite apart.
    path = key_dir / JWKS_FILE
    before = path.stat()
    jwks = json.loads(path.read_text())
    enc = [index for index, key in enumerate(jwks["keys"]) if key["use"] == "enc"]
    jwks["keys"][enc[0]], jwks["keys"][enc[1]] = jwks["keys"][enc[1]], jwks["keys"][enc[0]]
    write_private_file(path, json.dumps(jwks, indent=2).encode("utf-8"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size

    now[0] += 0.5
    assert ring.current.encryption_key.kid == first_enc  # looked at no more than once a second
    now[0] += 0.5
    assert ring.current.encryption_key.kid == jwks["keys"][enc[0]]["kid"] != first_enc


# -- failures while loading ----------------------------------------------------------------------------


def test_load_of_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        HubKeys.load(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (JWKS_FILE, "{not json"),
        (JWKS_FILE, '{"keys": []}'),
        (JWKS_FILE, '{"no keys": 1}'),
        (STORAGE_KEY_FILE, "c2hvcnQ\n"),  # "short": not 32 bytes
        (SUBJECT_PEPPER_FILE, "!!!\n"),
    ],
)
def test_load_of_a_damaged_file(tmp_path: Path, name: str, content: str) -> None:
    init_key_dir(tmp_path / "keys")
    (tmp_path / "keys" / name).write_text(content)

    with pytest.raises(ConfigurationError):
        HubKeys.load(tmp_path / "keys")


def test_load_jwks_takes_parsed_json_too() -> None:
    private_jwks, _ = generate_member_jwks()

    assert [key.kid for key in load_jwks(private_jwks)] == [key["kid"] for key in private_jwks["keys"]]
    with pytest.raises(ConfigurationError):
        load_jwks({"keys": [{"kty": "OKP", "crv": "Ed25519"}]})


def test_load_jwks_reads_a_public_jwks(tmp_path: Path) -> None:
    _, public_jwks = generate_member_jwks()
    (tmp_path / "member.jwks.json").write_text(json.dumps(public_jwks))

    key_set = load_jwks(tmp_path / "member.jwks.json")

    assert [key.kid for key in key_set] == [key["kid"] for key in public_jwks["keys"]]
    assert not any(key.is_private for key in key_set)
