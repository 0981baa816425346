"""Two federation parties (the hub and a local MIS) with fresh keys, and a kit that builds envelopes by hand
(with joserfc directly) so that tests can break one property at a time."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from joserfc import jwe, jws
from joserfc.jwk import Key, KeySet

from gateway.envelope import (
    MemoryReplayCache,
    OpenedMessage,
    StaticKeyResolver,
    generate_member_jwks,
    open_envelope,
    private_signing_key,
    public_encryption_key,
)

# Personal data that must never surface in an error message or a repr.
SECRET_ID_NUMBER = "11010519491231002X"
SECRET_NAME = "张三"


@dataclass
class Party:
    member_id: str
    private_jwks: dict[str, Any]
    public_jwks: dict[str, Any]

    @classmethod
    def new(cls, member_id: str) -> Party:
        private_jwks, public_jwks = generate_member_jwks()
        return cls(member_id, private_jwks, public_jwks)

    @property
    def signing_key(self) -> Key:
        return private_signing_key(self.private_jwks)

    @property
    def encryption_key(self) -> Key:
        """The public encryption key others seal to."""
        return public_encryption_key(self.public_jwks)

    @property
    def decryption_keys(self) -> KeySet:
        return KeySet.import_key_set(self.private_jwks)


@dataclass
class EnvelopeKit:
    hub: Party = field(default_factory=lambda: Party.new("CN/GOV/11100000000013127D/hub"))
    mis: Party = field(default_factory=lambda: Party.new("CN/GOV/11110105000000000M/dibao"))
    now: float = 1_782_000_000.0
    body: dict[str, Any] = field(
        default_factory=lambda: {
            "case_id": "110101-2026-000123",
            "household": [{"id_number": SECRET_ID_NUMBER, "name": SECRET_NAME, "relation": "self"}],
        }
    )
    cache: MemoryReplayCache = field(default_factory=MemoryReplayCache)
    DELETE: object = field(default_factory=object)

    def party(self, member_id: str) -> Party:
        """Another member with fresh keys."""
        return Party.new(member_id)

    @property
    def resolver(self) -> StaticKeyResolver:
        return StaticKeyResolver({self.hub.member_id: self.hub.public_jwks, self.mis.member_id: self.mis.public_jwks})

    async def open_at_hub(self, token: str | bytes, **options: Any) -> OpenedMessage:
        """``open_envelope`` as the hub at ``now`` with the kit's replay cache; keyword options override."""
        arguments: dict[str, Any] = {
            "decryption_keys": self.hub.decryption_keys,
            "resolver": self.resolver,
            "audience": self.hub.member_id,
            "replay": self.cache,
            "now": self.now,
        }
        arguments.update(options)
        return await open_envelope(token, **arguments)

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid request claims from the MIS to the hub; a change to ``DELETE`` drops that claim."""
        values: dict[str, Any] = {
            "iss": self.mis.member_id,
            "aud": self.hub.member_id,
            "iat": int(self.now),
            "exp": int(self.now) + 300,
            "jti": str(uuid.uuid4()),
            "body": self.body,
        }
        for name, value in changes.items():
            if value is self.DELETE:
                del values[name]
            else:
                values[name] = value
        return values

    def sign(self, payload: dict[str, Any] | bytes, key: Key | None = None, **header: Any) -> bytes:
        """A compact JWS made by joserfc alone; default key: the MIS's, default header: the envelope's."""
        key = key or self.mis.signing_key
        protected = {"alg": "Ed25519", "kid": key.kid, "typ": "hedui+jwt", **header}
        protected = {name: value for name, value in protected.items() if value is not None}
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        return jws.serialize_compact(protected, raw, key, algorithms=[protected["alg"]]).encode("ascii")

    def encrypt(self, signed: bytes, key: Key | None = None, **header: Any) -> str:
        """A compact JWE made by joserfc alone; default key: the hub's, default header: the envelope's."""
        key = key or self.hub.encryption_key
        protected = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": key.kid, "cty": "JWT", **header}
        protected = {name: value for name, value in protected.items() if value is not None}
        algorithms = [protected[name] for name in ("alg", "enc", "zip") if name in protected]
        return jwe.encrypt_compact(protected, signed, key, algorithms=algorithms)

    def request(self, **changes: Any) -> str:
        """A hand-made request envelope with the given claim changes."""
        return self.encrypt(self.sign(self.claims(**changes)))

    def assert_no_personal_data(self, error: BaseException) -> None:
        text = f"{error} {error!r} {getattr(error, 'extensions', '')}"
        assert SECRET_ID_NUMBER not in text
        assert SECRET_NAME not in text
        assert self.mis.member_id not in text


@pytest.fixture
def kit() -> EnvelopeKit:
    return EnvelopeKit()
