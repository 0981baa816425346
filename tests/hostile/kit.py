"""A hostile client of the hub: builds every token, assertion and envelope itself with jwcrypto (a JOSE library
independent of the hub's joserfc) or byte by byte, sends them over real HTTP, and keeps the figures.

Nothing here uses the hub's own client or sealing code, so a hub bug cannot be mirrored by the test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from jwcrypto import jwe as cjwe
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws

from gateway.sandbox import Sandbox
from tests.support import raw_exchange

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode("utf-8"))


def encrypt_to(key: cjwk.JWK, inner: str, **header: Any) -> str:
    """A compact JWE of ``inner`` to ``key`` (ECDH-ES+A256KW, A256GCM, cty JWT), by jwcrypto."""
    protected = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": key["kid"], "cty": "JWT", **header}
    encrypted = cjwe.JWE(inner.encode("ascii"), protected=json.dumps(protected))
    encrypted.add_recipient(key)
    return str(encrypted.serialize(compact=True))


@dataclass
class Member:
    name: str
    member_id: str
    signing: cjwk.JWK
    encryption: cjwk.JWK

    def raw_sign(self, header: dict[str, Any] | bytes | str, payload: dict[str, Any] | bytes | str) -> str:
        """A compact JWS over exactly these bytes, signed with the member's Ed25519 key whatever ``alg`` says."""
        head = header if isinstance(header, str) else b64json(header)
        body = payload if isinstance(payload, str) else b64json(payload)
        signing_input = f"{head}.{body}".encode("ascii")
        signature = self.signing.get_op_key("sign").sign(signing_input)
        return f"{head}.{body}.{b64(signature)}"


@dataclass
class Tally:
    """The suite's figures: cases tried, 5xx answers, identity numbers echoed, refusals not audited."""

    cases: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"hostile cases: {sum(self.cases.values())} "
            f"({', '.join(f'{group} {count}' for group, count in sorted(self.cases.items()))}); "
            f"5xx: {len(self.server_errors)}; identity numbers echoed: {len(self.leaks)}; "
            f"unaudited refusals: {len(self.unaudited)}"
        )


TALLY = Tally()


class Hostile:
    def __init__(self, sandbox: Sandbox, http: httpx.AsyncClient | None = None) -> None:
        self.sandbox = sandbox
        self.http: httpx.AsyncClient = http  # type: ignore[assignment]  # None only for the synchronous uses
        document = json.loads(sandbox.sandbox_json.read_text(encoding="utf-8"))
        self.document = document
        self.hub_id: str = document["hub"]["id"]
        self.base_url: str = document["base_url"]
        self.token_endpoint = f"{self.base_url}/oauth2/token"
        self.members = {name: self._member(name, entry) for name, entry in document["members"].items()}
        self.scenarios = {scenario["name"]: scenario for scenario in document["scenarios"]}
        # Every identity number the sandbox knows: none may ever come back in an answer.
        self.known_numbers = {m["id_number"] for s in document["scenarios"] for m in s["household"]}
        self.hub_keys: cjwk.JWKSet | None = None

    def _member(self, name: str, entry: dict[str, Any]) -> Member:
        private = json.loads((self.sandbox.data_dir / entry["private_jwks"]).read_text(encoding="utf-8"))
        keys = [cjwk.JWK(**key) for key in private["keys"]]
        signing = next(k for k in keys if k.get("use") == "sig")
        encryption = next(k for k in keys if k.get("use") == "enc")
        return Member(name, entry["id"], signing, encryption)

    async def hub_encryption_key(self) -> cjwk.JWK:
        if self.hub_keys is None:
            response = await self.http.get(f"{self.base_url}/.well-known/jwks.json")
            self.hub_keys = cjwk.JWKSet.from_json(response.text)
        return next(k for k in self.hub_keys["keys"] if k.get("use") == "enc")

    async def hub_signing_keys(self) -> list[cjwk.JWK]:
        await self.hub_encryption_key()
        assert self.hub_keys is not None
        return [k for k in self.hub_keys["keys"] if k.get("use") == "sig"]

    # -- OAuth2 ----------------------------------------------------------------------------------------

    def assertion_claims(self, member: Member, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": member.member_id,
            "sub": member.member_id,
            "aud": self.token_endpoint,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def assertion(self, member: Member, *, header: dict[str, Any] | None = None, **changes: Any) -> str:
        head = {"alg": "EdDSA", "kid": member.signing["kid"], "typ": "JWT", **(header or {})}
        return member.raw_sign(head, self.assertion_claims(member, **changes))

    async def token_request(self, fields: dict[str, str]) -> httpx.Response:
        return await self.http.post(self.token_endpoint, data=fields)

    async def token(self, member: Member, scope: str | None = None) -> str:
        fields = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.assertion(member),
        }
        if scope is not None:
            fields["scope"] = scope
        response = await self.token_request(fields)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    # -- envelopes -------------------------------------------------------------------------------------

    def claims(self, member: Member, body: Any, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": member.member_id,
            "aud": self.hub_id,
            "iat": now,
            "exp": now + 120,
            "jti": str(uuid.uuid4()),
            "body": body,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, member: Member, claims: dict[str, Any], **header: Any) -> str:
        """The inner JWS, by jwcrypto; ``header`` overrides the designed ``{alg, kid, typ}``."""
        protected = {"alg": "EdDSA", "kid": member.signing["kid"], "typ": "hedui+jwt", **header}
        signed = cjws.JWS(json.dumps(claims).encode("utf-8"))
        signed.add_signature(member.signing, alg=None, protected=json.dumps(protected))
        return str(signed.serialize(compact=True))

    async def encrypt(self, inner: str, **header: Any) -> str:
        """The outer JWE to the hub, by jwcrypto; ``header`` overrides the designed one."""
        return encrypt_to(await self.hub_encryption_key(), inner, **header)

    async def envelope(self, member: Member, body: Any, **changes: Any) -> tuple[str, str]:
        """A correct envelope (and its inner JWS) with claim ``changes``."""
        inner = self.sign(member, self.claims(member, body, **changes))
        return await self.encrypt(inner), inner

    async def post(self, path: str, token: str | None, payload: str | bytes, **headers: str) -> httpx.Response:
        sent = {"content-type": "application/jose", **headers}
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        return await self.http.post(f"{self.base_url}{path}", content=payload, headers=sent)

    def open_reply(self, member: Member, reply: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Decrypt and (with jwcrypto) verify a sealed answer: its protected header and claims."""
        encrypted = cjwe.JWE()
        encrypted.deserialize(reply, key=member.encryption)
        signed = cjws.JWS()
        signed.deserialize(encrypted.payload.decode("ascii"))
        assert self.hub_keys is not None
        for key in self.hub_keys["keys"]:
            if key.get("use") == "sig" and key.get("kid") == signed.jose_header["kid"]:
                signed.verify(key)
                return signed.jose_header, json.loads(signed.payload)
        raise AssertionError("the answer is not signed by a published hub key")

    def request_body(self, scenario: str = "clearly_eligible", **changes: Any) -> dict[str, Any]:
        item = self.scenarios[scenario]
        body = {
            "case_id": f"{item['region']}-hostile-{uuid.uuid4().hex[:8]}",
            "purpose": item["purpose"],
            "region": item["region"],
            "operator": "staff-0001",
            "household": [dict(m) for m in item["household"]],
        }
        body.update(changes)
        return body

    # -- checks ----------------------------------------------------------------------------------------

    async def expect(
        self,
        group: str,
        response: httpx.Response,
        status: int,
        code: str | None,
        *,
        sent_numbers: tuple[str, ...] = (),
        audited_jws: str | None = None,
        subject: str | None = None,
    ) -> None:
        """Assert the status and problem ``code`` (RFC 6749 ``error`` on the token endpoint); that no identity
        number comes back; and, for a refusal the hub must audit, that its ``verification.rejected`` entry
        exists (found by the request's digest) and names ``subject`` when given."""
        name = f"{group}: {response.request.method} {response.request.url.path} -> {response.status_code}"
        TALLY.cases[group] += 1
        if response.status_code >= 500:
            TALLY.server_errors.append(name)
        answer = response.text + json.dumps(dict(response.headers))
        if any(number in answer for number in (*self.known_numbers, *sent_numbers)):
            TALLY.leaks.append(name)
        if audited_jws is not None and not await self._audited(audited_jws, subject):
            TALLY.unaudited.append(name)
        assert response.status_code == status, f"{name}: {response.text[:300]}"
        if code is not None:
            document = response.json()
            assert document.get("code", document.get("error")) == code, f"{name}: {response.text[:300]}"
        assert name not in TALLY.leaks, f"{name} echoed an identity number"
        assert name not in TALLY.unaudited, f"{name} was not audited"

    async def raw_exchange(self, *parts: bytes) -> tuple[int, dict[str, Any], int]:
        """Send ``parts`` over a plain socket while reading the answer, as an HTTP client does: sending stops
        once the answer has come. Returns its status, its JSON body and how many bytes had been sent by then."""
        address = urlsplit(self.base_url)
        assert address.hostname is not None and address.port is not None
        return await raw_exchange(address.hostname, address.port, *parts)

    def expect_raw(
        self, group: str, name: str, status: int, document: dict[str, Any], expected: int, code: str
    ) -> None:
        """:meth:`expect` for an answer read off a raw socket."""
        TALLY.cases[group] += 1
        if status >= 500:
            TALLY.server_errors.append(f"{group}: {name}")
        if any(number in json.dumps(document) for number in self.known_numbers):
            TALLY.leaks.append(f"{group}: {name}")
        assert status == expected, f"{name}: {status} {document}"
        assert document.get("code", document.get("error")) == code, f"{name}: {document}"

    async def _audited(self, inner_jws: str, subject: str | None) -> bool:
        digest = hashlib.sha256(inner_jws.encode("ascii")).hexdigest()
        entries = await self.sandbox.hub.audit.search(
            types=["verification.rejected"], subject_id_number=subject, limit=1000
        )
        return any(entry.entry.get("request_digest") == digest for entry in entries)
