"""Finding the key that verifies an inner JWS: the sender's (``iss``) signing key named by the JWS ``kid``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from gateway.errors import ConfigurationError, SignatureInvalid


class KeyResolver(Protocol):
    """Where ``open_envelope`` looks up signing keys (the hub: its member registry; a member: the hub's JWKS)."""

    async def verification_key(self, issuer: str, kid: str) -> Key:
        """The public signing key ``kid`` of member ``issuer``; :class:`SignatureInvalid` if there is none.

        The lookup is by issuer first, so a kid registered to another member never verifies.
        """
        ...


class StaticKeyResolver:
    """A :class:`KeyResolver` over a fixed mapping of member id to public JWKS (a dict or a ``KeySet``)."""

    def __init__(self, jwks_by_member: Mapping[str, Mapping[str, Any] | KeySet]) -> None:
        self._keys: dict[str, KeySet] = {}
        for member_id, jwks in jwks_by_member.items():
            if isinstance(jwks, KeySet):
                self._keys[member_id] = jwks
                continue
            try:
                self._keys[member_id] = KeySet.import_key_set({"keys": list(jwks["keys"])})
            except (JoseError, KeyError, TypeError, ValueError) as exc:
                raise ConfigurationError("a member's JWKS cannot be read") from exc

    async def verification_key(self, issuer: str, kid: str) -> Key:
        key_set = self._keys.get(issuer)
        if key_set is not None:
            for key in key_set:
                # RFC 7517 §4.2: a key marked for encryption never verifies a signature.
                if key.kid == kid and key.get("use") != "enc":
                    return key
        raise SignatureInvalid("unknown sender or signing key")
