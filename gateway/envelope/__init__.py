"""The message envelope (docs/architecture.md §4): a signed-then-encrypted nested JWT (RFC 7519 §11.2).

``seal`` signs a business body as a compact JWS (Ed25519 or ES256) and encrypts it as a compact JWE
(ECDH-ES+A256KW, A256GCM, X25519 or P-256); ``open_envelope`` reverses it and raises one of the envelope
errors of ``gateway.errors``. See docs/envelope.md.
"""

from gateway.envelope._open import CLOCK_SKEW_S, OpenedMessage, jti_claim, open_envelope
from gateway.envelope._seal import MAX_LIFETIME_S, SealedMessage, request_binding, seal
from gateway.envelope.keys import (
    HubKeys,
    KeyRing,
    generate_member_jwks,
    init_key_dir,
    load_jwks,
    private_encryption_key,
    private_signing_key,
    public_encryption_key,
    retire_key,
    rotate_key_dir,
)
from gateway.envelope.replay import JtiClaim, MemoryReplayCache, ReplayCache, SqlReplayCache
from gateway.envelope.resolver import KeyResolver, StaticKeyResolver

__all__ = [
    "CLOCK_SKEW_S",
    "MAX_LIFETIME_S",
    "HubKeys",
    "JtiClaim",
    "KeyResolver",
    "KeyRing",
    "MemoryReplayCache",
    "OpenedMessage",
    "ReplayCache",
    "SealedMessage",
    "SqlReplayCache",
    "StaticKeyResolver",
    "generate_member_jwks",
    "init_key_dir",
    "jti_claim",
    "load_jwks",
    "open_envelope",
    "private_encryption_key",
    "private_signing_key",
    "public_encryption_key",
    "request_binding",
    "retire_key",
    "rotate_key_dir",
    "seal",
]
