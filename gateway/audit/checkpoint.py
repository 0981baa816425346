"""Signed checkpoints: c2sp.org/tlog-checkpoint bodies in c2sp.org/signed-note notes, Ed25519 signatures.

A checkpoint's note text is three lines: the log's origin, the tree size in decimal, the base64 root hash.
The hub signs it twice with its log key, under the key name = origin:

* an Ed25519 note signature (signed-note "Ed25519 signatures", type 0x01) over the note text, which any
  checkpoint verifier configured with the log's verifier key (:func:`verifier_key`) checks;
* an Ed25519 timestamped cosignature (c2sp.org/tlog-cosignature, type 0x04) over
  ``"cosignature/v1\\ntime <t>\\n" || note text``: the log's own signed statement that at POSIX time ``t``
  this was its largest tree. Signed-note key ids include the type byte, and the cosigned message its own
  header line, so the one key serves both without ambiguity (signed-note, "Signatures").

Everything here is pure: bytes and keys in, bytes out; verifiers raise :class:`CheckpointInvalid`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.audit.rfc9162 import HASH_SIZE
from gateway.errors import CheckpointInvalid

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_DASH = "\u2014"  # signed-note: every signature line starts with an em dash and a space
_SIGNATURE_LINE = re.compile(rf"^{_DASH} (\S+) ([A-Za-z0-9+/]+={{0,2}})$")
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]*)$")
_MAX_SIGNATURES = 16


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: ``origin`` (the log's identity), ``size`` and ``root_hash`` (RFC 9162 MTH)."""

    origin: str
    size: int
    root_hash: bytes

    def text(self) -> str:
        """The note text (tlog-checkpoint "Note text"), final newline included."""
        if not _NAME.match(self.origin):
            raise CheckpointInvalid("an origin must be non-empty, without spaces or '+'")
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, the POSIX ``timestamp`` its log cosigned, and the note."""

    checkpoint: Checkpoint
    timestamp: int
    note: str


def key_id(name: str, signature_type: int, public_key: Ed25519PublicKey) -> bytes:
    """SHA-256(key name || 0x0A || signature type || public key)[:4] (signed-note, "Signatures")."""
    material = name.encode("utf-8") + b"\n" + bytes([signature_type]) + _raw(public_key)
    return hashlib.sha256(material).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key string ``<name>+<hex key id>+<base64(0x01 || public key)>`` (golang.org/x/mod's
    sumdb/note encoding, which signed-note implementations accept)."""
    encoded = base64.b64encode(bytes([ED25519]) + _raw(public_key)).decode("ascii")
    return f"{name}+{key_id(name, ED25519, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """``(key name, public key)`` of an Ed25519 verifier key string, its key id checked."""
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        material = base64.b64decode(encoded, validate=True)
        identifier = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error) as exc:
        raise CheckpointInvalid("a verifier key has the form <name>+<hex key id>+<base64 key>") from exc
    if not _NAME.match(name) or len(material) != 33 or material[0] != ED25519:
        raise CheckpointInvalid("not an Ed25519 verifier key")
    public_key = Ed25519PublicKey.from_public_bytes(material[1:])
    if key_id(name, ED25519, public_key) != identifier:
        raise CheckpointInvalid("the verifier key's id does not match its name and key")
    return name, public_key


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey, *, timestamp: int) -> str:
    """The signed note: text, blank line, the Ed25519 signature line, the timestamped cosignature line."""
    text = checkpoint.text()
    public_key = private_key.public_key()
    name = checkpoint.origin
    signature = key_id(name, ED25519, public_key) + private_key.sign(text.encode("utf-8"))
    stamp = struct.pack(">Q", timestamp)
    cosignature = (
        key_id(name, COSIGNATURE_V1, public_key) + stamp + private_key.sign(_cosigned_message(text, timestamp))
    )
    return f"{text}\n{_line(name, signature)}{_line(name, cosignature)}"


def open_note(note: str, vkey: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Verify a signed note's Ed25519 signature by the key ``vkey`` names (signed-note, "Signatures"):
    ``(note text, signature lines)``. Signatures by other keys are ignored, as the spec requires; one by
    this key must be present, and every one by this key must verify."""
    name, public_key = parse_verifier_key(vkey)
    text, signatures = _split_note(note)
    wanted = key_id(name, ED25519, public_key)
    found = [blob[4:] for signer, blob in signatures if signer == name and blob[:4] == wanted]
    if not found:
        raise CheckpointInvalid("the note carries no signature by this key")
    for signature in found:
        _verify(public_key, signature, text.encode("utf-8"))
    return text, signatures


def open_checkpoint(note: str, vkey: str) -> SignedCheckpoint:
    """Verify a signed checkpoint against the log's verifier key and parse it: the log's Ed25519 signature
    and its timestamped cosignature must both be present and valid."""
    name, public_key = parse_verifier_key(vkey)
    text, signatures = open_note(note, vkey)
    checkpoint = _parse_text(text)
    if checkpoint.origin != name:
        raise CheckpointInvalid("the checkpoint's origin is not the verifier key's name")
    cosigner = key_id(name, COSIGNATURE_V1, public_key)
    timestamps = []
    for signer, blob in signatures:
        if signer == name and blob[:4] == cosigner:
            if len(blob) != 4 + 8 + 64:
                raise CheckpointInvalid("a timestamped cosignature is a key id, 8 bytes of time and 64 of signature")
            (claimed,) = struct.unpack(">Q", blob[4:12])
            _verify(public_key, blob[12:], _cosigned_message(text, claimed))
            timestamps.append(claimed)
    if not timestamps:
        raise CheckpointInvalid("the checkpoint carries no timestamp cosigned by the log's key")
    return SignedCheckpoint(checkpoint, max(timestamps), note)


def _cosigned_message(text: str, timestamp: int) -> bytes:
    # tlog-cosignature, "Ed25519 signed message": header line, timestamp line, then the note text.
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _line(name: str, blob: bytes) -> str:
    return f"{_DASH} {name} {base64.b64encode(blob).decode('ascii')}\n"


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    if any(ord(char) < 0x20 and char != "\n" for char in note):
        raise CheckpointInvalid("a signed note may not hold control characters other than newline")
    if not note.endswith("\n") or "\n\n" not in note:
        raise CheckpointInvalid("a signed note is text, a blank line, then signature lines")
    # The text ends at the last blank line; it keeps its final newline (signed-note, "Format").
    cut = note.rindex("\n\n")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise CheckpointInvalid(f"a signed note carries 1 to {_MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        match = _SIGNATURE_LINE.match(line)
        if match is None:
            raise CheckpointInvalid("malformed signature line")
        try:
            blob = base64.b64decode(match.group(2), validate=True)
        except binascii.Error as exc:
            raise CheckpointInvalid("a signature is not base64") from exc
        if len(blob) < 5:
            raise CheckpointInvalid("a signature is a 4-byte key id and the signature bytes")
        signatures.append((match.group(1), blob))
    return text, signatures


def _parse_text(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise CheckpointInvalid("a checkpoint is at least three non-empty lines")
    origin, size, encoded = lines[:3]
    if not _SIZE.fullmatch(size):
        raise CheckpointInvalid("the tree size is not a decimal number without leading zeros")
    try:
        root_hash = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise CheckpointInvalid("the root hash is not base64") from exc
    if len(root_hash) != HASH_SIZE:
        raise CheckpointInvalid(f"the root hash is not {HASH_SIZE} bytes")
    return Checkpoint(origin, int(size), root_hash)


def _verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    try:
        public_key.verify(signature, message)
    except InvalidSignature as exc:
        raise CheckpointInvalid("a signature by the log's key does not verify") from exc


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
