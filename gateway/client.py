"""``HubClient``: the Python SDK of a local MIS. It obtains and refreshes OAuth2 access tokens by itself
(client credentials with private_key_jwt, RFC 7523), seals requests, opens and checks responses, and turns
problem responses into the same ``gateway.errors`` classes the hub raised.

Every failure is a ``gateway.errors`` class: a hub that cannot be reached is :class:`HubUnavailable`, an
answer outside the protocol :class:`RemoteProblem`; no httpx exception gets through (``_call``).

    async with HubClient.from_sandbox("var/sandbox/sandbox.json") as client:
        report = await client.verify({...})
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from gateway import safe_json
from gateway.auth import CLIENT_ASSERTION_TYPE, client_assertion
from gateway.batch.callback import CALLBACK_TYPE
from gateway.envelope import (
    MemoryReplayCache,
    OpenedMessage,
    StaticKeyResolver,
    load_jwks,
    open_envelope,
    private_signing_key,
    public_encryption_key,
    seal,
)
from gateway.envelope.jwt import audiences, is_token_id, numeric_date, verify_jwt
from gateway.errors import (
    ConfigurationError,
    EnvelopeInvalid,
    Expired,
    HubUnavailable,
    InvalidToken,
    RemoteProblem,
    SignatureInvalid,
    WrongAudience,
    error_class_for,
    token_error_class_for,
)

JOSE = "application/jose"
CLOCK_LEEWAY_S = 60  # seconds of clock skew tolerated between the hub and the member (RFC 7519 §4.1.4)


class HubClient:
    def __init__(
        self,
        base_url: str,
        *,
        member_id: str,
        private_jwks: Path | Mapping[str, Any],
        hub_id: str,
        hub_jwks: Mapping[str, Any] | None = None,
        timeout_s: float = 30.0,
        scope: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.member_id = member_id
        self.hub_id = hub_id
        keys = load_jwks(private_jwks) if isinstance(private_jwks, Path) else load_jwks(dict(private_jwks))
        self._signing_key = private_signing_key(keys)
        self._decryption_keys = keys
        self._hub_jwks = dict(hub_jwks) if hub_jwks is not None else None
        # A JWKS given here (e.g. from verified federation metadata) is a trust anchor: never refetched.
        self._hub_jwks_pinned = hub_jwks is not None
        self._replay = MemoryReplayCache()  # a response is accepted once, like a request at the hub
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)
        self._scope = scope
        self._token_endpoint: str | None = None
        self._access_token: str | None = None
        self._token_expires = 0.0

    @classmethod
    def from_sandbox(cls, sandbox_json: str | Path, member: str = "mis") -> HubClient:
        """A client for one of the members a running ``hedui sandbox`` wrote into its sandbox.json."""
        path = Path(sandbox_json)
        sandbox = json.loads(path.read_text(encoding="utf-8"))
        entry = sandbox["members"][member]
        return cls(
            sandbox["base_url"],
            member_id=entry["id"],
            private_jwks=path.parent / entry["private_jwks"],
            hub_id=sandbox["hub"]["id"],
        )

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def verify(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/verifications``: the verified report body."""
        return (await self._exchange("POST", "/v1/verifications", body)).body

    async def get_verification(self, verification_id: str) -> dict[str, Any]:
        """``GET /v1/verifications/{id}``: a stored report of this member."""
        response = await self._send("GET", f"/v1/verifications/{verification_id}", None)
        return (await self._open(response, None)).body

    async def report_pdf(self, verification_id: str) -> tuple[bytes, str]:
        """``GET /v1/verifications/{id}/report.pdf``: the printable 核对报告 and its seal (the QR code's text)."""
        headers = {"Authorization": f"Bearer {await self.access_token()}"}
        path = f"/v1/verifications/{verification_id}/report.pdf"
        response = _expect(await self._call("GET", path, headers=headers), 200)
        return response.content, response.headers.get("hedui-report-seal", "")

    async def post_envelope(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Seal ``body``, POST it to ``path`` and return the opened answer's body (any envelope endpoint)."""
        return (await self._exchange("POST", path, body)).body

    # -- batches (docs/batch.md) --------------------------------------------------------------------------

    async def submit_batch(
        self,
        batch_ref: str,
        purpose: str,
        items: list[Mapping[str, Any]],
        *,
        close: bool = False,
        callback: bool = False,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/batches`` (at most 10,000 items): the new batch's status. ``callback`` asks for a signed
        completion notification to the member's registered callback URL (``callback_url``: another URL on its
        origin); check it on arrival with :meth:`verify_batch_callback`."""
        body: dict[str, Any] = {"batch_ref": batch_ref, "purpose": purpose, "items": items, "close": close}
        if callback:
            body["callback"] = True
        if callback_url is not None:
            body["callback_url"] = callback_url
        return await self.post_envelope("/v1/batches", body)

    async def add_batch_items(self, batch_id: str, items: list[Mapping[str, Any]]) -> dict[str, Any]:
        return await self.post_envelope(f"/v1/batches/{batch_id}/items", {"batch_id": batch_id, "items": items})

    async def close_batch(self, batch_id: str) -> dict[str, Any]:
        return await self.post_envelope(f"/v1/batches/{batch_id}/close", {"batch_id": batch_id})

    async def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        return await self.post_envelope(f"/v1/batches/{batch_id}/cancel", {"batch_id": batch_id})

    async def batch_status(self, batch_id: str) -> dict[str, Any]:
        response = await self._send("GET", f"/v1/batches/{batch_id}", None)
        return (await self._open(response, None)).body

    async def batch_results(self, batch_id: str, *, after: int = -1, limit: int = 100) -> dict[str, Any]:
        """One page of results; each done item's ``report`` is opened (checked and decrypted) here."""
        response = await self._send("GET", f"/v1/batches/{batch_id}/results?after={after}&limit={limit}", None)
        page = (await self._open(response, None)).body
        for item in page["items"]:
            if "report" in item:
                item["report"] = await self.open_sealed(item["report"])
        return page

    async def open_sealed(self, token: str) -> dict[str, Any]:
        """Open an envelope the hub sealed to this member outside a response of its own (a batch item's
        report): signature, audience, expiry and single use are checked as for any response."""
        opened = await open_envelope(
            token.encode("ascii"),
            decryption_keys=self._decryption_keys,
            resolver=StaticKeyResolver({self.hub_id: await self._hub_keys()}),
            audience=self.member_id,
            replay=self._replay,
        )
        return opened.body

    async def verify_batch_callback(self, token: str | bytes) -> dict[str, Any]:
        """The claims of a batch completion notification the hub POSTed to this member's callback URL
        (docs/batch.md "Completion callback"), after checking signature, type, issuer, audience, expiry and
        single use (its ``jti``), as for any message of the hub. The hub's JWKS is fetched once more if the
        signing key is unknown (a rotation), unless it was pinned."""
        for attempt in range(2):
            try:
                claims = verify_batch_callback(
                    token, await self._hub_keys(), member_id=self.member_id, hub_id=self.hub_id
                )
            except SignatureInvalid:
                if attempt or self._hub_jwks_pinned:
                    raise
                self._hub_jwks = None
                continue
            expires = datetime.fromtimestamp(claims["exp"], UTC) + timedelta(seconds=CLOCK_LEEWAY_S)
            await self._replay.remember(self.hub_id, claims["jti"], expires)
            return claims
        raise AssertionError("unreachable")  # pragma: no cover

    async def access_token(self) -> str:
        """A valid access token, fetched (or refreshed 30 s before it expires) from the token endpoint."""
        if self._access_token is None or time.time() > self._token_expires - 30:
            endpoint = await self._discover_token_endpoint()
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": client_assertion(self.member_id, self._signing_key, endpoint),
            }
            if self._scope:
                form["scope"] = self._scope
            response = await self._call("POST", endpoint, data=form)
            if response.status_code != 200 and not _is_problem(response):
                # RFC 6749 §5.2: {"error": ..., "error_description": ...}
                answer = _json(response)
                error = str(answer.get("error", ""))
                raise token_error_class_for(error)(
                    str(answer.get("error_description", error)), status=response.status_code
                )
            answer = _json(_expect(response, 200))
            try:
                token, expires_in = str(answer["access_token"]), float(answer["expires_in"])
            except (KeyError, TypeError, ValueError) as exc:
                raise RemoteProblem("the token response lacks access_token or expires_in") from exc
            self._access_token = token
            self._token_expires = time.time() + expires_in
        return self._access_token

    async def _discover_token_endpoint(self) -> str:
        if self._token_endpoint is None:
            metadata = _json(_expect(await self._call("GET", "/.well-known/oauth-authorization-server"), 200))
            endpoint = metadata.get("token_endpoint")
            if not isinstance(endpoint, str):
                raise RemoteProblem("the authorization server metadata names no token_endpoint")
            self._token_endpoint = endpoint
        return self._token_endpoint

    async def _call(self, method: str, url: str, **options: Any) -> httpx.Response:
        """The one place where HTTP happens: transport failures become :class:`HubUnavailable`, other httpx
        failures :class:`RemoteProblem`, and a gateway's 502/503/504 without a problem document (the hub
        itself answers 503 with one) :class:`HubUnavailable`."""
        try:
            response = await self._http.request(method, url, **options)
        except httpx.TransportError as exc:  # connect, read, write, pool, timeouts, protocol, proxy
            raise HubUnavailable(f"the hub could not be reached ({type(exc).__name__})") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # too many redirects, undecodable content, a bad URL
            raise RemoteProblem(f"the exchange with the hub failed ({type(exc).__name__})") from exc
        if response.status_code in (502, 503, 504) and not _is_problem(response):
            raise HubUnavailable(f"a gateway in front of the hub answered HTTP {response.status_code}")
        return response

    async def _exchange(self, method: str, path: str, body: Mapping[str, Any]) -> OpenedMessage:
        for attempt in range(2):
            sealed = seal(
                body,
                issuer=self.member_id,
                audience=self.hub_id,
                signing_key=self._signing_key,
                recipient_key=public_encryption_key(await self._hub_keys()),
            )
            try:
                response = await self._send(method, path, sealed.token)
            except EnvelopeInvalid:
                if attempt or self._hub_jwks_pinned:
                    raise
                self._hub_jwks = None  # sealed to a retired hub key: fetch the JWKS and seal once more
                continue
            return await self._open(response, sealed.jws)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, path: str, token: str | None) -> httpx.Response:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self.access_token()}"}
            if token is not None:
                headers["Content-Type"] = JOSE
            response = await self._call(method, path, content=token, headers=headers)
            problem = _problem(response)
            if isinstance(problem, InvalidToken) and attempt == 0:
                self._access_token = None  # revoked or the hub rotated keys: fetch a new token once
                continue
            if problem is not None:
                raise problem
            if response.status_code >= 300 or not response.headers.get("content-type", "").startswith(JOSE):
                raise RemoteProblem(f"unexpected answer HTTP {response.status_code}", status=response.status_code)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _open(self, response: httpx.Response, request_jws: bytes | None) -> OpenedMessage:
        for attempt in range(2):
            hub_jwks = await self._hub_keys()
            try:
                return await open_envelope(
                    response.content,
                    decryption_keys=self._decryption_keys,
                    resolver=StaticKeyResolver({self.hub_id: hub_jwks}),
                    audience=self.member_id,
                    replay=self._replay,
                    expected_request_jws=request_jws,
                )
            except SignatureInvalid:
                if attempt or self._hub_jwks_pinned:
                    raise
                self._hub_jwks = None  # the hub may have rotated its signing key: fetch its JWKS once more
        raise AssertionError("unreachable")  # pragma: no cover

    async def _hub_keys(self) -> dict[str, Any]:
        if self._hub_jwks is None:
            self._hub_jwks = _json(_expect(await self._call("GET", "/.well-known/jwks.json"), 200))
        return self._hub_jwks


def verify_batch_callback(
    token: str | bytes,
    hub_jwks: Mapping[str, Any],
    *,
    member_id: str,
    hub_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a batch completion notification (a compact JWS, RFC 7515 §7.1, typed
    ``hedui-batch-callback+jwt``) against the hub's public JWKS and return its claims: signed by a signing
    key of ``hub_jwks`` (:class:`SignatureInvalid`), of that type, issued by ``hub_id`` to ``member_id``
    (:class:`WrongAudience`), not expired (:class:`Expired`; RFC 7519 §4.1.4, with ``CLOCK_LEEWAY_S``) and
    carrying the batch's id and a final state (:class:`EnvelopeInvalid`). Single use is the caller's to check
    (``jti``); :meth:`HubClient.verify_batch_callback` does."""
    try:
        keys = KeySet.import_key_set({"keys": list(hub_jwks["keys"])})
    except (JoseError, KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError("the hub's JWKS cannot be read") from exc

    def key_for(header: dict[str, Any]) -> Key:
        for key in keys:
            if key.kid == header.get("kid") and key.get("use") != "enc":  # RFC 7517 §4.2
                return key
        raise SignatureInvalid("not signed by a signing key of the hub")

    claims = verify_jwt(token, key_for, typ=CALLBACK_TYPE)
    if claims.get("iss") != hub_id:
        raise SignatureInvalid("not issued by the hub")
    if member_id not in audiences(claims):
        raise WrongAudience("the notification is addressed to another member")
    expires, issued = numeric_date(claims.get("exp")), numeric_date(claims.get("iat"))
    if expires is None or issued is None or not is_token_id(claims.get("jti")):
        raise EnvelopeInvalid("the notification lacks exp, iat or jti")
    current = time.time() if now is None else now
    if current >= expires + CLOCK_LEEWAY_S:
        raise Expired("the notification has expired")
    if issued > current + CLOCK_LEEWAY_S:
        raise EnvelopeInvalid("the notification is issued in the future")
    if not is_token_id(claims.get("batch_id")) or claims.get("state") not in ("closed", "cancelled"):
        raise EnvelopeInvalid("the notification names no batch in a final state")
    return claims


def _is_problem(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("application/problem+json")


def _problem(response: httpx.Response) -> Exception | None:
    """The class the hub raised, from an RFC 9457 problem document; None if the answer is not one."""
    if not _is_problem(response):
        return None
    problem = _json(response)
    code = str(problem.get("code", "remote_problem"))
    extensions = {k: v for k, v in problem.items() if k not in {"type", "title", "detail", "code"}}
    return error_class_for(code)(str(problem.get("detail", "")), **extensions)


def _expect(response: httpx.Response, status: int) -> httpx.Response:
    """``response`` if it has ``status``; else the problem it carries, or :class:`RemoteProblem`."""
    if response.status_code == status:
        return response
    raise _problem(response) or RemoteProblem(
        f"unexpected answer HTTP {response.status_code}", status=response.status_code
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer; :class:`RemoteProblem` if it is not one (an HTML error page, say)."""
    try:
        # The hub's answer is outside input to the member too: bounded like everything the hub parses.
        value = safe_json.loads(response.content)
    except ValueError as exc:  # JsonRejected, json.JSONDecodeError and UnicodeDecodeError
        raise RemoteProblem(f"the answer (HTTP {response.status_code}) is not JSON") from exc
    if not isinstance(value, dict):
        raise RemoteProblem(f"the answer (HTTP {response.status_code}) is not a JSON object")
    return value
