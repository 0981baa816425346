"""Console sign-in through the province's identity provider (统一身份认证): the OpenID Connect authorization
code flow for a confidential client.

- Discovery (OpenID Connect Discovery 1.0 §4): ``<issuer>/.well-known/openid-configuration``, whose ``issuer``
  must equal the configured one exactly (§4.3); fetched once and kept.
- Authorization request (OIDC Core 1.0 §3.1.2.1) with ``state``, ``nonce`` and PKCE (RFC 7636 §4.2, S256);
  the three are kept by the browser in a short-lived cookie (:class:`PendingSignIn`), never on the server.
- Token request (RFC 6749 §4.1.3) with the code verifier, the client authenticated by HTTP Basic
  (``client_secret_basic``, RFC 6749 §2.3.1).
- ID token validation (OIDC Core 1.0 §3.1.3.7): signature by a key of the provider's JWKS (asymmetric
  algorithms only; the JWKS is fetched again once for an unknown ``kid``), ``iss`` exact, ``aud`` this client
  and no other, ``exp`` and ``iat`` within the clock skew, ``nonce`` the one sent.

The identity that results is (issuer, ``sub``); which console account it opens is the accounts' business
(:meth:`gateway.console.accounts.ConsoleAccounts.sign_in_oidc`). Everything the provider sends is outside
input: answers are bounded in size and parsed by :mod:`gateway.safe_json`, and every failure is
:class:`~gateway.errors.ConsoleOidcFailed` with a reason that quotes nothing the provider sent.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway import safe_json
from gateway.envelope.jwt import audiences, unverified_claims, unverified_header
from gateway.errors import ConsoleOidcFailed, EnvelopeInvalid
from gateway.outbound_urls import secure_or_loopback

CLOCK_SKEW_S = 60
# Asymmetric algorithms only: an HMAC "signature" under the client secret would be forgeable by anyone who
# holds that secret, and "none" is no signature at all.
ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
MAX_ANSWER_BYTES = 262_144
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, base64url
_CODE = re.compile(r"[\x21-\x7e]{1,2048}")
_SUBJECT = re.compile(r"[\x21-\x7e]{1,255}")  # OIDC Core §2: at most 255 ASCII characters
_URL = re.compile(r"[\x21-\x7e]{1,2048}")


def checked_issuer(value: str) -> str:
    """An issuer URL as OIDC Discovery §3 requires it: https (http only to a loopback host, for tests and the
    sandbox), no query or fragment; the trailing slash is kept as given (issuers compare exactly)."""
    _checked_endpoint(value, "issuer")
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ConsoleOidcFailed("the issuer URL has no query or fragment")
    return value


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the browser keeps between the redirect to the provider and its answer: three random tokens."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> PendingSignIn:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32))

    def cookie(self) -> str:
        return f"{self.state}.{self.nonce}.{self.code_verifier}"

    @classmethod
    def from_cookie(cls, value: str | None) -> PendingSignIn:
        parts = (value or "").split(".")
        if len(parts) != 3 or not all(_TOKEN.fullmatch(part) for part in parts):
            raise ConsoleOidcFailed("no sign-in was started in this browser, or it took too long")
        return cls(*parts)


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    issuer: str
    subject: str


class OidcClient:
    """One per hub process; :meth:`aclose` at shutdown."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = checked_issuer(issuer)
        self._client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._clock = clock
        # No redirects: an endpoint answers itself, or the sign-in fails.
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def authorization_url(self, pending: PendingSignIn) -> str:
        """Where to send the browser to sign in (OIDC Core §3.1.2.1, RFC 7636 §4.3)."""
        metadata = await self.metadata()
        return str(
            add_params_to_uri(
                metadata.authorization_endpoint,
                [
                    ("response_type", "code"),
                    ("client_id", self._client_id),
                    ("redirect_uri", self.redirect_uri),
                    ("scope", "openid"),
                    ("state", pending.state),
                    ("nonce", pending.nonce),
                    ("code_challenge", create_s256_code_challenge(pending.code_verifier)),
                    ("code_challenge_method", "S256"),
                ],
            )
        )

    async def finish(self, pending: PendingSignIn, *, state: str, code: str) -> OidcIdentity:
        """The identity the provider vouches for, from its answer to the authorization request."""
        if not secrets.compare_digest(state.encode("ascii", "replace"), pending.state.encode("ascii")):
            raise ConsoleOidcFailed("the answer belongs to another sign-in (state)")
        if not _CODE.fullmatch(code):
            raise ConsoleOidcFailed("the authorization code is not valid")
        metadata = await self.metadata()
        answer = await self._post_form(
            metadata.token_endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending.code_verifier,
            },
        )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise ConsoleOidcFailed("the token response carries no ID token")
        claims = await self.validated_id_token(id_token, nonce=pending.nonce)
        return OidcIdentity(self.issuer, claims["sub"])

    async def validated_id_token(self, token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of ``token`` once it passes OIDC Core §3.1.3.7; :class:`ConsoleOidcFailed` if not."""
        try:
            header = unverified_header(token)
            unverified_claims(token)  # joserfc's own parser is unbounded: the payload is checked first
        except EnvelopeInvalid:
            raise ConsoleOidcFailed("the ID token is not a compact JWS") from None
        if header.get("alg") not in ID_TOKEN_ALGORITHMS:
            raise ConsoleOidcFailed("the ID token is not signed with an accepted algorithm")
        keys = await self._key_set(refresh=False)
        if header.get("kid") is not None and not any(key.kid == header.get("kid") for key in keys):
            keys = await self._key_set(refresh=True)  # the provider rotated its keys
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
            claims = dict(decoded.claims)
            jwt.JWTClaimsRegistry(
                now=int(self._clock()),
                leeway=CLOCK_SKEW_S,
                iss={"essential": True, "value": self.issuer},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError, TypeError, LookupError) as exc:
            raise ConsoleOidcFailed(f"the ID token does not validate ({type(exc).__name__})") from None
        if audiences(claims) != {self._client_id}:
            raise ConsoleOidcFailed("the ID token is not for this client alone (aud)")
        if claims.get("azp", self._client_id) != self._client_id:
            raise ConsoleOidcFailed("the ID token was issued to another party (azp)")
        if not isinstance(claims["sub"], str) or not _SUBJECT.fullmatch(claims["sub"]):
            raise ConsoleOidcFailed("the ID token's subject is not valid")
        return claims

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            document = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != self.issuer:  # Discovery §4.3: exactly the configured issuer
                raise ConsoleOidcFailed("the provider's metadata names another issuer")
            endpoints = {
                name: _checked_endpoint(document.get(name), name)
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            }
            self._metadata = ProviderMetadata(self.issuer, **endpoints)
        return self._metadata

    async def _key_set(self, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            document = await self._get_json((await self.metadata()).jwks_uri)
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, LookupError):
                raise ConsoleOidcFailed("the provider's JWKS cannot be read") from None
        return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        return await self._json_answer(self._http.get(url, headers={"Accept": "application/json"}))

    async def _post_form(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        request = self._http.post(
            url,
            data=form,
            auth=(self._client_id, self._client_secret),  # RFC 6749 §2.3.1 client_secret_basic
            headers={"Accept": "application/json"},
        )
        return await self._json_answer(request)

    @staticmethod
    async def _json_answer(request: Any) -> dict[str, Any]:
        try:
            response: httpx.Response = await request
        except httpx.HTTPError:
            raise ConsoleOidcFailed("the identity provider could not be reached") from None
        if response.status_code != 200:
            raise ConsoleOidcFailed(f"the identity provider answered HTTP {response.status_code}")
        if len(response.content) > MAX_ANSWER_BYTES:
            raise ConsoleOidcFailed("the identity provider's answer is too large")
        try:
            document = safe_json.loads(response.content, max_bytes=MAX_ANSWER_BYTES)
        except ValueError:
            raise ConsoleOidcFailed("the identity provider's answer is not JSON") from None
        if not isinstance(document, dict):
            raise ConsoleOidcFailed("the identity provider's answer is not a JSON object")
        return document


def _checked_endpoint(value: Any, name: str) -> str:
    """An https URL (http only to a loopback host), printable ASCII, bounded."""
    if not isinstance(value, str) or not _URL.fullmatch(value):
        raise ConsoleOidcFailed(f"the provider's {name} is not a URL")
    parts = urlsplit(value)
    if not secure_or_loopback(parts.scheme, parts.hostname):
        raise ConsoleOidcFailed(f"the provider's {name} is not an https URL")
    return value
