"""The envelope's crypto suite (docs/architecture.md §4): the only JOSE algorithms and key types the hub accepts.

Signatures: Ed25519 (named "Ed25519", RFC 9864 §2.2, or "EdDSA", RFC 8037 §3.1) and ES256 on P-256
(RFC 7518 §3.4). Encryption: ECDH-ES+A256KW key agreement (RFC 7518 §4.6) on X25519 (RFC 8037 §3.2) or
P-256, content encrypted with A256GCM (RFC 7518 §5.3). Nothing else: no "none", no HMAC, no RSA, no "dir".

A second suite (SM2/SM3/SM4) is planned behind the same seal/open interface; everything algorithm-specific
lives in this module so that it can be swapped.
"""

from __future__ import annotations

from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.errors import InvalidKeyCurveError, InvalidKeyTypeError, UnsupportedKeyAlgorithmError
from joserfc.jwa import ESAlgorithm, JWSAlgModel
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey, Key, OKPKey
from joserfc.jws import JWSRegistry

from gateway.errors import ConfigurationError

JWS_TYPE: Final = "hedui+jwt"
KEY_MANAGEMENT: Final = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION: Final = "A256GCM"
NESTED_CONTENT_TYPE: Final = "JWT"
SIGNING_ALGORITHMS: Final = ("Ed25519", "EdDSA", "ES256")
# The two JOSE names of Ed25519 signatures: RFC 9864 §2.2's, then RFC 8037 §3.1's, which older libraries
# (jose4j, nimbus-jose-jwt before RFC 9864) know as the only one.
ED25519_ALGORITHMS: Final = ("Ed25519", "EdDSA")
DEFAULT_MAX_BYTES: Final = 1_048_576

# Header sizes are far below these; foreign libraries may add a few registered parameters.
_MAX_HEADER_BYTES: Final = 2048


class _Ed25519Signature(JWSAlgModel):
    """EdDSA over Ed25519 under either of its JOSE names.

    joserfc's own "EdDSA" also accepts Ed448 and warns that the name is deprecated; docs/architecture.md §4 accepts it
    from peers (jwcrypto, nimbus emit it), so both names are served by this one Ed25519-only model, and a
    key registered with either name in its "alg" parameter verifies both.
    """

    key_type = "OKP"

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = "EdDSA using the Ed25519 parameter set"

    def check_key(self, key: Any) -> None:
        key.check_use("sig")
        if not isinstance(key, OKPKey):
            raise InvalidKeyTypeError(f"Algorithm '{self.name}' requires an OKP key")
        if key.curve_name != "Ed25519":
            raise InvalidKeyCurveError(f"Algorithm '{self.name}' requires the Ed25519 curve")
        if key.alg not in (None, "Ed25519", "EdDSA"):
            raise UnsupportedKeyAlgorithmError(f"This key is designed for algorithm '{key.alg}'")

    def sign(self, msg: bytes, key: OKPKey) -> bytes:
        private_key = key.get_op_key("sign")
        assert isinstance(private_key, Ed25519PrivateKey)
        return private_key.sign(msg)

    def verify(self, msg: bytes, sig: bytes, key: OKPKey) -> bool:
        public_key = key.get_op_key("verify")
        assert isinstance(public_key, Ed25519PublicKey)
        try:
            public_key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


class _SignatureRegistry(JWSRegistry):
    # A registry of its own, so that no other JWS algorithm registered with joserfc is reachable.
    algorithms: dict[str, JWSAlgModel] = {  # noqa: RUF012 - joserfc declares it as a class attribute
        "Ed25519": _Ed25519Signature("Ed25519"),
        "EdDSA": _Ed25519Signature("EdDSA"),
        "ES256": ESAlgorithm("ES256", "P-256", 256),
    }
    recommended: list[str] = []  # noqa: RUF012 - as above
    max_header_length = _MAX_HEADER_BYTES


def signature_registry(max_payload_bytes: int) -> JWSRegistry:
    """A JWS registry of the suite. Unknown header parameters are ignored, as RFC 7515 §4 requires;
    "crit" is still enforced (§4.1.11)."""
    registry = _SignatureRegistry(algorithms=SIGNING_ALGORITHMS, strict_check_header=False)
    registry.max_payload_length = max_payload_bytes
    return registry


def encryption_registry(max_ciphertext_bytes: int) -> JWERegistry:
    """A JWE registry allowing only ECDH-ES+A256KW with A256GCM (RFC 7516 §4: unknown parameters ignored)."""
    registry = JWERegistry(algorithms=[KEY_MANAGEMENT, CONTENT_ENCRYPTION], strict_check_header=False)
    registry.max_protected_header_length = _MAX_HEADER_BYTES
    registry.max_ciphertext_length = max_ciphertext_bytes
    return registry


def signing_algorithm(key: Key, *, like: str | None = None) -> str:
    """The JWS "alg" a private signing key signs with: Ed25519 for Ed25519 keys, ES256 for P-256 keys.

    An Ed25519 key signs under the name ``like`` when that is one of its two names: the hub answers a caller
    in the name the caller signed with, so that a library that knows only "EdDSA" can verify the answer.
    """
    if not is_signing_key(key):
        raise ConfigurationError("a signing key must be an Ed25519 (OKP) or P-256 (EC) key")
    if not key.is_private:
        raise ConfigurationError("the signing key has no private part")
    if isinstance(key, OKPKey):
        return like if like in ED25519_ALGORITHMS else ED25519_ALGORITHMS[0]
    return "ES256"


def is_signing_key(key: Key) -> bool:
    """Whether ``key`` can sign or verify in the suite (Ed25519 or P-256, not marked for encryption)."""
    if key.get("use") == "enc":
        return False
    if isinstance(key, OKPKey):
        return key.curve_name == "Ed25519"
    return isinstance(key, ECKey) and key.curve_name == "P-256"


def is_agreement_key(key: Key) -> bool:
    """Whether ``key`` can take part in the suite's ECDH-ES key agreement (X25519 or P-256)."""
    if key.get("use") == "sig":
        return False
    if isinstance(key, OKPKey):
        return key.curve_name == "X25519"
    return isinstance(key, ECKey) and key.curve_name == "P-256"
