"""The hub's log key: a separate Ed25519 key that signs audit checkpoints, in the hub key directory.

It is kept apart from the envelope signing key so that either can be rotated, or held in different hardware,
without touching the other. The file is a private JWK (RFC 8037 OKP), mode 0600, written atomically.
The public half is published twice (docs/architecture.md §9): in the hub JWKS, marked ``"key_ops": ["verify"]`` so no
client mistakes it for the envelope key, and as a C2SP verifier key string for checkpoint verifiers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from gateway.audit.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from gateway.envelope.keys import write_private_file
from gateway.errors import ConfigurationError

LOG_KEY_FILE = "log.private.jwk.json"


def log_origin(hub_id: str) -> str:
    """The log's origin line and key name: the hub's member id and ``/audit`` (no spaces, no '+')."""
    return f"{hub_id}/audit"


class LogKey:
    """The private log key under its key name (the log's origin)."""

    def __init__(self, jwk: OKPKey, *, name: str) -> None:
        private = jwk.private_key
        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigurationError("the log key must be a private Ed25519 JWK")
        self.name = name
        self.kid = jwk.thumbprint()
        self._private = private
        self.public_key: Ed25519PublicKey = self._private.public_key()
        self._public_jwk = {
            key: value for key, value in jwk.as_dict(private=False).items() if key in ("kty", "crv", "x")
        }

    def __repr__(self) -> str:
        return f"LogKey(name={self.name!r}, kid={self.kid!r})"

    @classmethod
    def load(cls, key_dir: Path, *, name: str) -> LogKey:
        path = key_dir / LOG_KEY_FILE
        try:
            jwk = OKPKey.import_key(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigurationError(f"cannot read the log key {path.name}; run `hedui keys init`") from exc
        except (ValueError, JoseError) as exc:
            raise ConfigurationError(f"the log key file {path.name} is not an OKP JWK") from exc
        return cls(jwk, name=name)

    def verifier_key(self) -> str:
        """The C2SP verifier key string anyone holding a checkpoint checks it with, offline."""
        return verifier_key(self.name, self.public_key)

    def public_jwk(self) -> dict[str, Any]:
        """The JWK the hub publishes in its JWKS beside the envelope keys (after them: the first "sig" key of
        the JWKS stays the envelope signing key)."""
        return {**self._public_jwk, "use": "sig", "alg": "Ed25519", "key_ops": ["verify"], "kid": self.kid}

    def sign(self, checkpoint: Checkpoint, *, timestamp: int) -> str:
        if checkpoint.origin != self.name:
            raise ConfigurationError("a checkpoint's origin must be the log key's name")
        return sign_checkpoint(checkpoint, self._private, timestamp=timestamp)


def init_log_key(key_dir: Path, *, force: bool = False) -> Path:
    """Write a new log key into ``key_dir`` (mode 0600); never replaces one unless ``force``.

    Replacing the log key does not invalidate the log, but every checkpoint signed before can then only be
    checked with the old verifier key: publish the new key, and keep the old one listed, before rotating.
    """
    path = key_dir / LOG_KEY_FILE
    if path.exists() and not force:
        raise ConfigurationError(f"the key directory already holds {LOG_KEY_FILE}; refusing to overwrite")
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # "iat": creation time, for the key expiry metric (gateway/scraped.py); the published JWK leaves it out.
    jwk = OKPKey.generate_key("Ed25519", {"use": "sig", "alg": "Ed25519"}, auto_kid=True)
    content = json.dumps(dict(jwk.as_dict(private=True), iat=int(time.time())), indent=2).encode("utf-8")
    write_private_file(path, content)
    return path
