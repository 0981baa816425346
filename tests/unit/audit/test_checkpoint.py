"""Signed checkpoints: the c2sp.org/tlog-checkpoint and signed-note formats, re-derived independently here
(key ids, verifier key strings, signature and cosignature lines), and every tampering refused."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.audit.checkpoint import (
    Checkpoint,
    open_checkpoint,
    open_note,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from gateway.errors import CheckpointInvalid

ORIGIN = "CN/GOV/11100000MB0348916Y/hub/audit"
ROOT = hashlib.sha256(b"root").digest()
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
VKEY = verifier_key(ORIGIN, KEY.public_key())


def signed(size: int = 42, timestamp: int = 1_780_000_000) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, ROOT), KEY, timestamp=timestamp)


def test_verifier_key_string_is_name_keyid_and_typed_key() -> None:
    name, key_hash, material = VKEY.split("+", 2)
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + PUBLIC).digest()[:4]

    assert name == ORIGIN
    assert key_hash == expected_id.hex() and len(key_hash) == 8
    assert base64.b64decode(material) == b"\x01" + PUBLIC
    assert parse_verifier_key(VKEY)[0] == ORIGIN


def test_note_layout_follows_tlog_checkpoint_and_signed_note() -> None:
    note = signed()
    text, signatures = note.split("\n\n")
    lines = signatures.splitlines()

    assert text == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}"
    assert len(lines) == 2 and all(line.startswith(f"\u2014 {ORIGIN} ") for line in lines)
    log_signature = base64.b64decode(lines[0].rsplit(" ", 1)[1])
    cosignature = base64.b64decode(lines[1].rsplit(" ", 1)[1])
    # signed-note: key id, then an Ed25519 signature over the note text (final newline included).
    assert log_signature[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + PUBLIC).digest()[:4]
    KEY.public_key().verify(log_signature[4:], (text + "\n").encode())
    # tlog-cosignature: type 0x04 key id, u64 big-endian time, signature over the cosigned message.
    assert cosignature[:4] == hashlib.sha256(ORIGIN.encode() + b"\n\x04" + PUBLIC).digest()[:4]
    assert struct.unpack(">Q", cosignature[4:12]) == (1_780_000_000,)
    KEY.public_key().verify(cosignature[12:], f"cosignature/v1\ntime 1780000000\n{text}\n".encode())


def test_a_signed_checkpoint_opens_with_its_verifier_key() -> None:
    opened = open_checkpoint(signed(), VKEY)

    assert opened.checkpoint == Checkpoint(ORIGIN, 42, ROOT)
    assert opened.timestamp == 1_780_000_000


def test_other_signers_are_ignored() -> None:
    witness = Ed25519PrivateKey.generate()
    note = signed()
    extra = base64.b64encode(b"\x00\x01\x02\x03" + witness.sign(note.split("\n\n")[0].encode())).decode()

    assert open_checkpoint(f"{note}\u2014 witness.example/w1 {extra}\n", VKEY).checkpoint.size == 42


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: note.replace("\n42\n", "\n43\n"),
        lambda note: note.replace(ORIGIN + "\n", "CN/GOV/11100000MB0348916Y/other\n", 1),
        lambda note: note.replace(base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
        lambda note: note[: note.index("\u2014")] + note[note.index("\n", note.index("\u2014")) + 1 :],  # no log sig
        lambda note: note[: note.rindex("\u2014")],  # no cosignature
        lambda note: note.replace("\n\n", "\n"),
        lambda note: note.replace("\n42\n", "\n042\n"),
        lambda note: note + "garbage\n",
        lambda note: note.replace("\n\n", "\n\x07\n\n"),
    ],
)
def test_tampered_notes_are_refused(tamper: object) -> None:
    note = tamper(signed())  # type: ignore[operator]
    with pytest.raises(CheckpointInvalid):
        open_checkpoint(note, VKEY)


def test_a_changed_timestamp_is_refused() -> None:
    note = signed(timestamp=1_780_000_000)
    line = note.splitlines()[-1]
    blob = bytearray(base64.b64decode(line.rsplit(" ", 1)[1]))
    blob[4:12] = struct.pack(">Q", 1_790_000_000)
    forged = note.replace(line, f"{line.rsplit(' ', 1)[0]} {base64.b64encode(bytes(blob)).decode()}")

    with pytest.raises(CheckpointInvalid):
        open_checkpoint(forged, VKEY)


def test_another_key_with_the_same_name_does_not_verify() -> None:
    stranger = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(CheckpointInvalid, match="no signature by this key"):
        open_checkpoint(signed(), stranger)


def test_a_plain_signed_note_opens() -> None:
    text = "hello\nworld\n"
    line = base64.b64encode(hashlib.sha256(b"n\n\x01" + PUBLIC).digest()[:4] + KEY.sign(text.encode())).decode()
    assert open_note(f"{text}\n\u2014 n {line}\n", verifier_key("n", KEY.public_key()))[0] == text


@pytest.mark.parametrize(
    "vkey",
    [
        "no-plus-signs",
        f"{ORIGIN}+00000000+{VKEY.split('+', 2)[2]}",  # wrong key id
        f"{ORIGIN}+{VKEY.split('+', 2)[1]}+" + base64.b64encode(b"\x04" + PUBLIC).decode(),  # not type 0x01
        f"two words+{VKEY.split('+', 2)[1]}+{VKEY.split('+', 2)[2]}",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(CheckpointInvalid):
        parse_verifier_key(vkey)


def test_an_origin_with_spaces_cannot_be_signed() -> None:
    with pytest.raises(CheckpointInvalid):
        sign_checkpoint(Checkpoint("my log", 1, ROOT), KEY, timestamp=0)
