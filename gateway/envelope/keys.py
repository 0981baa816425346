"""Key material: member key pairs, the hub's key directory (layout in keys/README.md) and JWKS files.

Every JWK carries "use" ("sig" or "enc"), "alg" and a "kid" that is its RFC 7638 thumbprint. In a JWKS the
first key of each use is the current one; keys after it are older keys kept during a rotation (old
signing keys still verify, old encryption keys still decrypt) until they are removed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key, KeySet, OKPKey

from gateway.envelope._suite import KEY_MANAGEMENT, is_agreement_key, is_signing_key, signing_algorithm
from gateway.errors import ConfigurationError

JWKS_FILE = "hub.private.jwks.json"
STORAGE_KEY_FILE = "storage.key"
SUBJECT_PEPPER_FILE = "subject-pepper.key"
# A private JWK parameter of this project: epoch seconds from which a rotated-in signing key signs.
ACTIVE_FROM = "active_from"
_SECRET_BYTES = 32


def generate_member_jwks() -> tuple[dict[str, Any], dict[str, Any]]:
    """A new key pair set for a member: ``(private JWKS, public JWKS)``, one Ed25519 signing key and one
    X25519 encryption key. The member keeps the first; the second is registered with the hub."""
    key_set = KeySet(_new_keys())
    return _jwks_dict(key_set, private=True), _jwks_dict(key_set, private=False)


def load_jwks(source: Path | Mapping[str, Any]) -> KeySet:
    """A JWKS (private or public) from a file, or from its already parsed JSON."""
    if not isinstance(source, Path):
        return _key_set(source)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {source.name}") from exc
    except ValueError as exc:
        raise ConfigurationError(f"the key file {source.name} is not JSON") from exc
    return _key_set(data)


def private_signing_key(jwks: KeySet | Mapping[str, Any]) -> Key:
    """The current (first) private "sig" key of ``jwks``: Ed25519 or P-256."""
    for key in _key_set(jwks):
        if key.get("use") == "sig" and key.is_private:
            signing_algorithm(key)  # raises ConfigurationError for a key outside the suite
            return key
    raise ConfigurationError('the JWKS holds no private key with "use": "sig"')


def private_encryption_key(jwks: KeySet | Mapping[str, Any]) -> Key:
    """The current (first) private "enc" key of ``jwks``: X25519 or P-256."""
    for key in _key_set(jwks):
        if key.get("use") == "enc" and key.is_private:
            if not is_agreement_key(key):
                raise ConfigurationError("an encryption key must be an X25519 (OKP) or P-256 (EC) key")
            return key
    raise ConfigurationError('the JWKS holds no private key with "use": "enc"')


def public_encryption_key(jwks: KeySet | Mapping[str, Any]) -> Key:
    """The current (first) "enc" key of ``jwks`` in public form: the key a sender seals to."""
    for key in _key_set(jwks):
        if key.get("use") == "enc":
            if not is_agreement_key(key):
                raise ConfigurationError("an encryption key must be an X25519 (OKP) or P-256 (EC) key")
            return JWKRegistry.import_key(key.as_dict(private=False))
    raise ConfigurationError('the JWKS holds no key with "use": "enc"')


class HubKeys:
    """The hub's key material, loaded from its key directory.

    ``signing_key`` signs envelopes, ``encryption_key`` is the one members encrypt to (published first),
    ``decryption_keys`` are all private encryption keys (the current and those being rotated out),
    ``storage_key`` is the AES-256-GCM at-rest key and ``subject_pepper`` the HMAC-SHA256 key of
    ``subject_ref`` (docs/architecture.md §3).
    """

    def __init__(self, key_set: KeySet, *, storage_key: bytes, subject_pepper: bytes) -> None:
        if len(storage_key) != _SECRET_BYTES or len(subject_pepper) != _SECRET_BYTES:
            raise ConfigurationError(f"the storage key and the subject pepper must be {_SECRET_BYTES} bytes")
        self._signing_keys = [key for key in key_set if key.get("use") == "sig" and key.is_private]
        private_signing_key(key_set)  # at least one, inside the suite
        self.encryption_key = private_encryption_key(key_set)
        self.decryption_keys = KeySet(
            [key for key in key_set if key.get("use") == "enc" and key.is_private and is_agreement_key(key)]
        )
        self.storage_key = storage_key
        self.subject_pepper = subject_pepper

        self._published = [
            key
            for key in key_set
            if (key.get("use") == "enc" and is_agreement_key(key)) or (key.get("use") == "sig" and is_signing_key(key))
        ]
        self._public_key_set = KeySet([JWKRegistry.import_key(key.as_dict(private=False)) for key in self._published])

    @property
    def signing_key(self) -> Key:
        """The first signing key whose ``active_from`` has come: after ``hedui keys rotate`` the new key is
        published at once but signs only after the grace period, so verifiers have fetched it by then."""
        now = time.time()
        for key in self._signing_keys:
            active_from = key.get(ACTIVE_FROM)
            if not isinstance(active_from, int | float) or active_from <= now:
                return key
        return self._signing_keys[-1]

    def __repr__(self) -> str:
        # Never the secrets: kids identify the keys well enough.
        return f"HubKeys(signing_kid={self.signing_key.kid!r}, encryption_kid={self.encryption_key.kid!r})"

    def public_jwks(self) -> dict[str, Any]:
        """The hub's public JWKS (``/.well-known/jwks.json``): every signing and encryption key, current first."""
        return {"keys": [dict(key.as_dict(private=False)) for key in self._published]}

    def public_key_set(self) -> KeySet:
        """The published keys as a KeySet (public parts), to verify what the hub signed."""
        return self._public_key_set

    @classmethod
    def load(cls, path: Path) -> HubKeys:
        """Read a key directory written by :func:`init_key_dir`."""
        return cls(
            load_jwks(path / JWKS_FILE),
            storage_key=_read_secret(path / STORAGE_KEY_FILE),
            subject_pepper=_read_secret(path / SUBJECT_PEPPER_FILE),
        )


def init_key_dir(path: Path, *, force: bool = False) -> HubKeys:
    """Create the hub's key directory (mode 0700) with new keys, each file mode 0600.

    Existing keys are never replaced unless ``force``: replacing them makes every message sealed to the old
    keys unreadable and every stored report undecryptable.
    """
    files = (JWKS_FILE, STORAGE_KEY_FILE, SUBJECT_PEPPER_FILE)
    existing = [name for name in files if (path / name).exists()]
    if existing and not force:
        raise ConfigurationError(f"the key directory already holds {', '.join(existing)}; refusing to overwrite")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask and ignored for an existing directory: set it explicitly.
    path.chmod(0o700)
    key_set = KeySet(_new_keys())
    write_private_file(path / JWKS_FILE, json.dumps(_jwks_dict(key_set, private=True), indent=2).encode("utf-8"))
    write_private_file(path / STORAGE_KEY_FILE, _encode_secret(secrets.token_bytes(_SECRET_BYTES)))
    write_private_file(path / SUBJECT_PEPPER_FILE, _encode_secret(secrets.token_bytes(_SECRET_BYTES)))
    return HubKeys.load(path)


def rotate_key_dir(path: Path, *, grace_s: float, now: float | None = None) -> tuple[str, str]:
    """Add a new signing and encryption key pair in front of the existing ones; returns their kids.

    The new encryption key is current at once (the hub still decrypts with the old one). The new signing key
    is published now and signs from ``now + grace_s`` on; old keys stay until :func:`retire_key`.
    """
    jwks_path = path / JWKS_FILE
    existing = load_jwks(jwks_path)
    signing, encryption = _new_keys()
    signing = OKPKey.import_key(
        dict(signing.as_dict(private=True), **{ACTIVE_FROM: int((time.time() if now is None else now) + grace_s)})
    )
    key_set = KeySet([signing, encryption, *existing])
    write_private_file(jwks_path, json.dumps(_jwks_dict(key_set, private=True), indent=2).encode("utf-8"))
    return str(signing.kid), str(encryption.kid)


def retire_key(path: Path, kid: str) -> str:
    """Remove key ``kid`` from the hub's key directory; returns its use ("sig" or "enc"). Refuses to remove
    the last key of a use."""
    jwks_path = path / JWKS_FILE
    keys = list(load_jwks(jwks_path))
    target = next((key for key in keys if key.kid == kid), None)
    if target is None:
        raise ConfigurationError("no key with that kid in the key directory")
    remaining = [key for key in keys if key.kid != kid]
    if not any(key.get("use") == target.get("use") for key in remaining):
        raise ConfigurationError(f"refusing to retire the only {target.get('use')} key")
    write_private_file(jwks_path, json.dumps(_jwks_dict(KeySet(remaining), private=True), indent=2).encode("utf-8"))
    return str(target.get("use"))


class KeyRing:
    """The hub's keys as currently on disk: reloaded when the JWKS file changes (checked at most once a
    second), so ``hedui keys rotate`` / ``retire`` take effect in running hub processes without a restart."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._keys = HubKeys.load(path)
        self._version = self._stat()
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int]:
        # The file is replaced by a rename at every change (write_private_file), so its inode changes even
        # when two writes fall within one tick of the file system's coarse clock and share an mtime.
        status = (self._path / JWKS_FILE).stat()
        return status.st_ino, status.st_mtime_ns, status.st_size

    @property
    def current(self) -> HubKeys:
        if self._clock() - self._checked >= 1.0:
            self._checked = self._clock()
            version = self._stat()
            if version != self._version:
                self._keys, self._version = HubKeys.load(self._path), version
        return self._keys


def _new_keys() -> list[Key]:
    # auto_kid sets "kid" to the RFC 7638 §3 thumbprint (SHA-256 over crv, kty, x; RFC 8037 §2 for OKP).
    # "iat" (creation, Unix time; RFC 7517 §4 lets other members be added) dates the key for the expiry alert.
    created = int(time.time())
    signing = OKPKey.generate_key("Ed25519", {"use": "sig", "alg": "Ed25519"}, auto_kid=True)
    encryption = OKPKey.generate_key("X25519", {"use": "enc", "alg": KEY_MANAGEMENT}, auto_kid=True)
    return [OKPKey.import_key(dict(key.as_dict(private=True), **{"iat": created})) for key in (signing, encryption)]


def _jwks_dict(key_set: KeySet, *, private: bool) -> dict[str, Any]:
    return {"keys": [dict(key.as_dict(private=private)) for key in key_set]}


def _key_set(jwks: Any) -> KeySet:
    if isinstance(jwks, KeySet):
        return jwks
    try:
        return KeySet.import_key_set({"keys": list(jwks["keys"])})
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError("not a valid JWKS") from exc


def _encode_secret(secret: bytes) -> bytes:
    return base64.urlsafe_b64encode(secret).rstrip(b"=") + b"\n"


def _read_secret(path: Path) -> bytes:
    try:
        text = path.read_bytes().strip()
        return base64.b64decode(text + b"=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path.name}") from exc
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"the key file {path.name} is not base64url") from exc


def write_private_file(path: Path, content: bytes) -> None:
    """Write key material with mode 0600, atomically."""
    # Written beside the target and renamed over it, so that a crash never leaves a half-written key.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            # The umask may only have narrowed 0600; set it exactly.
            os.fchmod(handle.fileno(), 0o600)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
