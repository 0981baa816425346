"""The OAuth2 token endpoint (RFC 6749 §3.2, client credentials §4.4, private_key_jwt RFC 7523 §2.2) and
the authorization server metadata (RFC 8414). Errors here are RFC 6749 §5.2 JSON, not RFC 9457 problems,
because OAuth2 clients expect them; authlib's error classes render them."""

from __future__ import annotations

from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import errors as oauth2_errors
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.deps import hub_of, read_body
from gateway.auth import CLIENT_ASSERTION_TYPE, ROLE_SCOPES, granted_scopes
from gateway.errors import (
    HeduiError,
    InvalidClient,
    InvalidScope,
    PayloadTooLarge,
    TokenRequestError,
    UnsupportedGrantType,
)

router = APIRouter(tags=["oauth2"])

_MAX_FORM_BYTES = 16_384
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


@router.post("/oauth2/token")
async def token(request: Request) -> JSONResponse:
    hub = hub_of(request)
    try:
        fields = await _form(request)
        if fields.get("grant_type") != "client_credentials":
            raise UnsupportedGrantType("grant_type must be client_credentials")
        if fields.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not fields.get("client_assertion"):
            raise InvalidClient("authenticate with private_key_jwt (RFC 7523 section 2.2)")
        member_id = await hub.client_assertions.verify(fields["client_assertion"], fields.get("client_id"))
        member = await hub.members.get(member_id)
        scopes = granted_scopes(member.role, fields.get("scope"))
        if not scopes:
            raise InvalidScope("this member's role holds no scope")
        access_token, expires_in = hub.token_issuer.issue(member_id, scopes)
    except TokenRequestError as exc:
        return _oauth2_error(exc)
    except PayloadTooLarge as exc:
        # RFC 6749 §5.2 has no code for it: invalid_request, with the HTTP status that says why.
        return _oauth2_error(TokenRequestError(exc.detail), status=exc.status)
    except HeduiError as exc:
        if exc.status >= 500:
            raise
        return _oauth2_error(InvalidClient(exc.detail))
    body = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(sorted(scopes)),
    }
    return JSONResponse(body, headers=_NO_STORE)


async def _form(request: Request) -> dict[str, str]:
    """RFC 6749 §4.4.2: the request is application/x-www-form-urlencoded; a repeated field is refused."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise TokenRequestError("the token request must be application/x-www-form-urlencoded")
    body = await read_body(request, _MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TokenRequestError("the token request is not a valid form") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise TokenRequestError("a token request parameter is repeated")  # RFC 6749 §3.2
    return fields


def _oauth2_error(exc: TokenRequestError, *, status: int | None = None) -> JSONResponse:
    error = oauth2_errors.OAuth2Error(description=exc.detail, status_code=status or exc.status, error=exc.code)
    headers = dict(error.get_headers())
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'  # RFC 6749 §5.2
    return JSONResponse(dict(error.get_body()), status_code=status or exc.status, headers=headers)


@router.get("/.well-known/oauth-authorization-server")
async def metadata(request: Request) -> JSONResponse:
    """RFC 8414 §2 authorization server metadata."""
    hub = hub_of(request)
    base = hub.settings.public_url
    return JSONResponse(
        {
            "issuer": base,
            "token_endpoint": hub.token_endpoint,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["Ed25519", "EdDSA", "ES256"],
            "scopes_supported": sorted({scope for scopes in ROLE_SCOPES.values() for scope in scopes}),
        }
    )
