"""The two ways of verifying a household that the benchmarks compare.

* :class:`DirectPath`: what a hand-written point-to-point integration does: the five real adapters of
  ``adapters/`` called concurrently by the client itself, then
  ``gateway.meanstest.indicators.compose_household``. No envelope, no database, no policy, no audit.
* :class:`HubPath`: the same households through the hub's ``POST /v1/verifications`` with everything the
  hub does at the time of the run, authorised with an OAuth2 access token (docs/architecture.md §5). Requests are
  sealed before the timed phase (each ``jti`` is single use, so one distinct envelope per request); during
  it the generator only sends bytes and reads the answer; afterwards every answer is opened and checked
  (signature, ``req`` binding, ``status == "complete"``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import date

import aiohttp

from adapters.banking import BankingAdapter
from adapters.base import Adapter, AdapterSettings, QueryMember, SourceQuery
from adapters.civil_affairs import CivilAffairsAdapter
from adapters.housing import HousingAdapter
from adapters.hukou import HukouAdapter
from adapters.tax import TaxAdapter
from adapters.testkit.population import Household
from bench._population import PURPOSE, REGION, request_body
from bench._stack import HubSetup
from gateway.auth import CLIENT_ASSERTION_TYPE, client_assertion
from gateway.envelope import (
    SealedMessage,
    StaticKeyResolver,
    load_jwks,
    open_envelope,
    private_signing_key,
    seal,
)
from gateway.errors import HeduiError
from gateway.meanstest.indicators import compose_household

_ADAPTERS: dict[str, type[Adapter]] = {
    "hukou": HukouAdapter,
    "civil_affairs": CivilAffairsAdapter,
    "tax": TaxAdapter,
    "housing": HousingAdapter,
    "banking": BankingAdapter,
}
_JOSE = "application/jose"


class DirectPath:
    """The five adapters, called by the client itself (one keep-alive session per agency, as in the hub)."""

    def __init__(self, agencies: dict[str, str], households: Sequence[Household], as_of: date) -> None:
        settings = AdapterSettings()
        self.adapters = {name: _ADAPTERS[name](url, settings) for name, url in agencies.items()}  # type: ignore[call-arg]
        self._households = households
        self._as_of = as_of

    def query(self, index: int) -> SourceQuery:
        household = self._households[index % len(self._households)]
        return SourceQuery(
            verification_id=str(uuid.uuid4()),
            purpose=PURPOSE,
            region=REGION,
            members=tuple(
                QueryMember(index=i, id_number=p.id_number, name=p.name, relation=p.relation)
                for i, p in enumerate(household.members)
            ),
            as_of=self._as_of,
        )

    async def fetch_one(self, adapter: str, index: int) -> None:
        """One adapter alone: the latency of one agency as the client sees it."""
        await self.adapters[adapter].fetch(self.query(index))

    async def call(self, index: int) -> None:
        query = self.query(index)
        results = await asyncio.gather(*(adapter.fetch(query) for adapter in self.adapters.values()))
        compose_household(query.members, results, query.as_of)

    async def aclose(self) -> None:
        await asyncio.gather(*(adapter.aclose() for adapter in self.adapters.values()))


class HubRefused(Exception):
    """The hub answered with a problem document; ``code`` is its stable problem code (docs/architecture.md §4)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"HTTP {status} {code}")
        self.status = status
        self.code = code


class HubPath:
    """Pre-sealed verification requests, spread round-robin over the hub processes at ``base_urls`` (a tiny
    load balancer); answers checked afterwards."""

    def __init__(self, setup: HubSetup, base_urls: Sequence[str], households: Sequence[Household]) -> None:
        self._setup = setup
        self._base_urls = list(base_urls)
        self._households = households
        member_keys = load_jwks(setup.member_private_jwks)
        self._member_keys = member_keys
        self._signing_key = private_signing_key(member_keys)
        self._sealed: list[SealedMessage] = []
        self._answers: dict[int, bytes] = {}
        self._offset = 0
        self._headers = {"Content-Type": _JOSE}
        # No connection limit (aiohttp's default of 100 would cap the load), and idle connections dropped
        # after 4 s: uvicorn closes them after 5 s (--timeout-keep-alive), and reusing one just as the
        # server closes it fails the request with a reset.
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=4))

    async def authorize(self) -> None:
        """Get a fresh access token (docs/architecture.md §5: client credentials, private_key_jwt per RFC 7523) from the
        token endpoint the hub advertises in its RFC 8414 metadata. Tokens live at most 300 s: call this
        before each measured run, outside the timed phase."""
        async with self._http.get(f"{self._base_urls[0]}/.well-known/oauth-authorization-server") as response:
            response.raise_for_status()
            endpoint = str((await response.json())["token_endpoint"])
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(self._setup.member_id, self._signing_key, endpoint),
            "scope": "verify",
        }
        async with self._http.post(endpoint, data=form) as response:
            if response.status != 200:
                raise HubRefused(response.status, str((await response.json()).get("error", "token_refused")))
            token = (await response.json())["access_token"]
        self._headers = {"Content-Type": _JOSE, "Authorization": f"Bearer {token}"}

    def seal_requests(self, count: int) -> None:
        """Seal ``count`` distinct requests (untimed CPU work); they answer calls 0..count-1 of the next run."""
        self._offset += len(self._sealed)
        self._sealed = [self._seal(i) for i in range(count)]
        self._answers = {}

    def reseal(self, index: int) -> None:
        """Seal request ``index`` again under a new ``jti``, to ask once more after a 503 (envelopes are single
        use: the refused one may already be in the replay cache)."""
        self._sealed[index] = self._seal(index)

    def _seal(self, index: int) -> SealedMessage:
        number = self._offset + index
        return seal(
            request_body(self._households[number % len(self._households)], number),
            issuer=self._setup.member_id,
            audience=self._setup.hub_id,
            signing_key=self._signing_key,
            recipient_key=self._setup.keys.encryption_key,
        )

    async def call(self, index: int) -> None:
        url = f"{self._base_urls[index % len(self._base_urls)]}/v1/verifications"
        async with self._http.post(url, data=self._sealed[index].token, headers=self._headers) as response:
            body = await response.read()
            if response.status != 201:
                raise HubRefused(response.status, _problem_code(body))
            self._answers[index] = body

    async def healthz(self, index: int) -> None:
        """``GET /healthz``: the trivial endpoint that shows the load generator's own ceiling."""
        async with self._http.get(f"{self._base_urls[index % len(self._base_urls)]}/healthz") as response:
            await response.read()
            if response.status != 200:
                raise HubRefused(response.status, "not_healthy")

    async def check_answers(self) -> dict[str, int]:
        """Open every answer of the last run like a member would; returns failures by code (empty: all good)."""
        resolver = StaticKeyResolver({self._setup.hub_id: self._setup.keys.public_jwks()})
        failures: dict[str, int] = {}
        for index, answer in self._answers.items():
            try:
                opened = await open_envelope(
                    answer,
                    decryption_keys=self._member_keys,
                    resolver=resolver,
                    audience=self._setup.member_id,
                    replay=None,  # each answer is opened once here, by construction
                    expected_request_jws=self._sealed[index].jws,
                )
                if opened.body.get("status") != "complete":
                    failures["not_complete"] = failures.get("not_complete", 0) + 1
            except HeduiError as exc:
                failures[exc.code] = failures.get(exc.code, 0) + 1
        return failures

    async def aclose(self) -> None:
        await self._http.close()


def _problem_code(body: bytes) -> str:
    try:
        problem = json.loads(body)
    except ValueError:
        return "not_a_problem_document"
    return str(problem.get("code", "remote_problem")) if isinstance(problem, dict) else "not_a_problem_document"
