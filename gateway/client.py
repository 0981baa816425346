"""``HubClient``: the Python SDK of a local MIS. It seals requests, opens and checks responses, and turns
problem responses into the same ``gateway.errors`` classes the hub raised.

    async with HubClient.from_sandbox("var/sandbox/sandbox.json") as client:
        report = await client.verify({...})
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

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
from gateway.errors import RemoteProblem, SourceUnavailable, error_class_for

JOSE = "application/jose"


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.member_id = member_id
        self.hub_id = hub_id
        keys = load_jwks(private_jwks) if isinstance(private_jwks, Path) else load_jwks(dict(private_jwks))
        self._signing_key = private_signing_key(keys)
        self._decryption_keys = keys
        self._hub_jwks = dict(hub_jwks) if hub_jwks is not None else None
        self._replay = MemoryReplayCache()  # a response is accepted once, like a request at the hub
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)

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
        return (
            await self._exchange("GET", f"/v1/verifications/{verification_id}", {"verification_id": verification_id})
        ).body

    async def _exchange(self, method: str, path: str, body: Mapping[str, Any]) -> OpenedMessage:
        hub_jwks = await self._hub_keys()
        sealed = seal(
            body,
            issuer=self.member_id,
            audience=self.hub_id,
            signing_key=self._signing_key,
            recipient_key=public_encryption_key(hub_jwks),
        )
        try:
            if method == "POST":
                response = await self._http.post(path, content=sealed.token, headers={"Content-Type": JOSE})
            else:
                response = await self._http.get(path, headers={"Hedui-Envelope": sealed.token})
        except httpx.HTTPError as exc:
            raise SourceUnavailable("the hub could not be reached") from exc
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            raise _problem(response)
        if response.status_code >= 300 or not response.headers.get("content-type", "").startswith(JOSE):
            raise RemoteProblem(f"unexpected answer HTTP {response.status_code}", status=response.status_code)
        return await open_envelope(
            response.content,
            decryption_keys=self._decryption_keys,
            resolver=StaticKeyResolver({self.hub_id: hub_jwks}),
            audience=self.member_id,
            replay=self._replay,
            expected_request_jws=sealed.jws,
        )

    async def _hub_keys(self) -> dict[str, Any]:
        if self._hub_jwks is None:
            response = await self._http.get("/.well-known/jwks.json")
            response.raise_for_status()
            self._hub_jwks = response.json()
        return self._hub_jwks


def _problem(response: httpx.Response) -> Exception:
    problem = response.json()
    code = str(problem.get("code", "remote_problem"))
    extensions = {k: v for k, v in problem.items() if k not in {"type", "title", "detail", "code"}}
    return error_class_for(code)(str(problem.get("detail", "")), **extensions)
