"""schemathesis against the hub's committed OpenAPI document (contracts/openapi/hub.json), over real HTTP to a
sandbox, with a bounded number of examples per operation and a fixed seed: no generated request may give a
server error.

A ``before_call`` hook makes the requests reach the business logic: it adds a bearer token of a member whose
role fits the operation, and seals a body for every operation that takes an envelope (declared as
``application/jose`` or read by hand), with the generated text put into one of the body's fields (the first
example of each operation gets the valid body, so the happy path is fuzzed too).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jwcrypto import jwk as cjwk

from gateway.sandbox import Sandbox
from tests.hostile.kit import CLIENT_ASSERTION_TYPE, TALLY, Hostile, encrypt_to

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "contracts" / "openapi" / "hub.json"
schema = schemathesis.openapi.from_path(SCHEMA_PATH)
# Texts put into a sealed body's field when schemathesis generates no body for the operation itself.
HOSTILE_TEXTS = ["", "１１０１０１", "110101\n", "x" * 300, "\u0000", "११०१०१", "😀", " 0 ", "9" * 40]


class RunningSandbox:
    """A sandbox served from its own thread and event loop, so that synchronous schemathesis calls can reach
    it over HTTP while the test thread waits."""

    def __init__(self, data_dir: Path) -> None:
        self.box = Sandbox(data_dir=data_dir, port=0, households=20, hub_settings={"source_timeout_s": 2.0})
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            await self.box.start()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            raise
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await self.box.stop()

    def __enter__(self) -> Sandbox:
        self._thread.start()
        assert self._started.wait(120), "the sandbox did not start"
        if self._error is not None:
            raise self._error
        return self.box

    def __exit__(self, *_: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


class Sealer:
    """What the hook needs: tokens per member and the templates of sealed bodies per operation."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.kit = Hostile(sandbox)
        self.http = httpx.Client(timeout=30)
        jwks = self.http.get(f"{self.kit.base_url}/.well-known/jwks.json").json()
        self.hub_key = next(cjwk.JWK(**k) for k in jwks["keys"] if k.get("use") == "enc")
        self.tokens = {name: self._token(name) for name in ("mis", "auditor")}
        self.texts = count()
        self.seen: set[str] = set()
        scenario = self.kit.scenarios["clearly_eligible"]
        number = scenario["household"][0]["id_number"]
        self.templates: dict[tuple[str, str], tuple[str, Callable[[str], dict[str, Any]]]] = {
            ("POST", "/v1/verifications"): ("mis", lambda t: self._verification(t)),
            ("POST", "/v1/consents"): ("mis", lambda t: self._consent(number, t)),
            ("POST", "/v1/consents/search"): ("mis", lambda t: {"id_number": t or number}),
            ("POST", "/v1/consents/{consent_id}/revoke"): ("mis", lambda t: {"reason": t or "withdrawn"}),
            ("POST", "/v1/registry/enrollments/search"): ("mis", lambda t: {"id_number": t or number}),
            ("POST", "/v1/registry/enrollments"): (
                "mis",
                lambda t: {
                    "id_number": number,
                    "programme": "dibao",
                    "region": t or "110101",
                    "start": "2026-01-01",
                    "monthly_amount": 100,
                },
            ),
            ("POST", "/v1/registry/enrollments/{enrollment_id}/end"): ("mis", lambda t: {"end": t or "2026-12-31"}),
            ("POST", "/v1/matches"): ("mis", lambda t: {"verification_id": t or str(uuid.uuid4())}),
            ("POST", "/v1/audit/search"): ("auditor", lambda t: {"operator": t} if t else {"limit": 5}),
            ("POST", "/v1/audit/subject-accesses"): ("auditor", lambda t: {"id_number": t or number}),
        }

    def _token(self, name: str) -> str:
        member = self.kit.members[name]
        fields = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.kit.assertion(member),
        }
        response = self.http.post(self.kit.token_endpoint, data=fields)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def _consent(self, number: str, text: str) -> dict[str, Any]:
        consent = {
            "id_number": number,
            "grantee": self.kit.members["mis"].member_id,
            "purposes": ["dibao.review"],
            "categories": ["hukou"],
            "collection_method": "signed_form",
            "evidence": {"sha256": uuid.uuid4().hex * 2, "ref": text or "MIS-110101/2026/1"},
            "signed_at": "2026-01-01T00:00:00+08:00",
        }
        return {"consents": [consent]}

    def _verification(self, text: str) -> dict[str, Any]:
        body = self.kit.request_body()
        if text:
            field = ("case_id", "operator", "region", "purpose", "household")[len(text) % 5]
            body[field] = text if field != "household" else [{**body["household"][0], "id_number": text}]
        return body

    def seal(self, method: str, path: str, generated: Any) -> tuple[str, str | None]:
        """The member whose token to send, and the sealed body (None: leave the generated body alone)."""
        role, build = self.templates.get((method, path), ("auditor" if path.startswith("/v1/audit") else "mis", None))
        if build is None:
            return role, None
        key = f"{method} {path}"
        if key not in self.seen:  # the first example of each operation: the valid body
            self.seen.add(key)
            text = ""
        elif isinstance(generated, str):
            text = generated[:400]
        else:
            text = HOSTILE_TEXTS[next(self.texts) % len(HOSTILE_TEXTS)]
        member = self.kit.members[role]
        inner = self.kit.sign(member, self.kit.claims(member, build(text)))
        return role, encrypt_to(self.hub_key, inner)


SEALER: Sealer | None = None


@schemathesis.serializer("application/jose")
def compact_serialization(context: Any, value: Any) -> bytes:
    """A generated application/jose body as sent, when the hook leaves it alone (an envelope it can't build)."""
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode()


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    """Authenticate and seal (see the module's docstring)."""
    if SEALER is None:
        return
    generated = case.body if isinstance(case.body, str) else None
    role, sealed = SEALER.seal(case.method.upper(), case.path, generated)
    headers = dict(case.headers or {})
    headers["authorization"] = f"Bearer {SEALER.tokens[role]}"
    if sealed is not None:
        headers["content-type"] = "application/jose"
        kwargs["data"] = sealed.encode("ascii")
    case.headers = headers


@pytest.fixture(scope="module")
def sealer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sealer]:
    global SEALER
    with RunningSandbox(tmp_path_factory.mktemp("schemathesis")) as box:
        SEALER = Sealer(box)
        try:
            yield SEALER
        finally:
            SEALER.http.close()
            SEALER = None


@pytest.fixture
def base_url(sealer: Sealer) -> str:
    return sealer.kit.base_url


@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,  # a fixed seed: the same requests on every run
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gives_a_server_error(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url)
    TALLY.cases["schemathesis"] += 1
    if response.status_code >= 500:
        TALLY.server_errors.append(f"schemathesis: {case.method} {case.path} -> {response.status_code}")
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    if response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        assert "code" in json.loads(response.text)
