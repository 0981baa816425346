"""A small OpenID Connect provider on loopback, standing in for a province's identity provider (outside the
hub): discovery, JWKS, an authorization endpoint that signs in whoever the test names (no login form),
and a token endpoint that checks the client's secret (HTTP Basic), the redirect URI and PKCE S256 before it
issues an RS256 ID token. Knobs let a test make it misbehave as a broken or hostile provider would."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support import serving_aiohttp

CLIENT_ID = "hedui-console"
CLIENT_SECRET = "console-secret-for-tests-only"


@dataclass
class Grant:
    subject: str
    nonce: str
    challenge: str
    redirect_uri: str


@dataclass
class IdentityProvider:
    issuer: str = ""
    redirect_uris: set[str] = field(default_factory=set)
    signed_in: str = "auditor-7"  # the `sub` the authorization endpoint signs in
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "idp-1", "use": "sig"}))
    # Misbehaviour: change the ID token's claims or header, or replace the whole answer of an endpoint.
    claims_change: Callable[[dict[str, Any]], dict[str, Any]] = lambda claims: claims
    header_change: Callable[[dict[str, Any]], dict[str, Any]] = lambda header: header
    metadata_change: Callable[[dict[str, Any]], dict[str, Any]] = lambda document: document
    token_requests: int = 0
    jwks_requests: int = 0
    _grants: dict[str, Grant] = field(default_factory=dict)

    def rotate(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"idp-{secrets.token_hex(4)}", "use": "sig"})

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": grant.subject,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
        }
        header = self.header_change({"alg": "RS256", "kid": self.key.kid})
        return jwt.encode(header, self.claims_change(claims), self.key, algorithms=[header["alg"]])

    # -- endpoints ---------------------------------------------------------------------------------------

    async def metadata(self, _request: web.Request) -> web.Response:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }
        return web.json_response(self.metadata_change(document))

    async def jwks(self, _request: web.Request) -> web.Response:
        self.jwks_requests += 1
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != CLIENT_ID or query.get("redirect_uri") not in self.redirect_uris:
            return web.Response(status=400, text="unknown client or redirect URI")
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="code flow with PKCE S256 only")
        if "openid" not in query.get("scope", "").split():
            return web.Response(status=400, text="not an OpenID Connect request")
        code = secrets.token_urlsafe(24)
        self._grants[code] = Grant(self.signed_in, query["nonce"], query["code_challenge"], query["redirect_uri"])
        answer = urlencode({"code": code, "state": query["state"]})
        raise web.HTTPFound(f"{query['redirect_uri']}?{answer}")

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        grant = self._grants.pop(str(form.get("code", "")), None)  # single use
        if grant is None or form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = str(form.get("code_verifier", "")).encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if challenge != grant.challenge or form.get("redirect_uri") != grant.redirect_uri:
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(
            {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "id_token": self.id_token(grant)}
        )


@asynccontextmanager
async def running_provider() -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider()
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", provider.metadata)
    app.router.add_get("/jwks", provider.jwks)
    app.router.add_get("/authorize", provider.authorize)
    app.router.add_post("/token", provider.token)
    async with serving_aiohttp(app) as base_url:
        provider.issuer = base_url
        yield provider
