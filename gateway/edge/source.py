"""The hub's side of an edge: a source that plugs into the broker like an in-process adapter.

``HEDUI_AGENCIES`` maps an adapter name either to an agency base URL (the adapter runs in the hub, as before)
or to ``{"edge": URL, "member": ID}``: the adapter runs at the agency's edge node, and :class:`EdgeSource`
seals the query to the edge's key, signs it with the hub's, opens the edge's answer (bound to the query),
checks the agency's attestation of the facts, keeps the facts encrypted at rest and hands the broker a
:class:`SourceResult` that carries the attestation. Deadline, retries, breaker, concurrency and quota are the
broker's, as for any adapter: connection failures and 5xx are :class:`SourceUnavailable` (retried), a
refusal is :class:`EdgeRefused`, an answer that does not verify is :class:`SourceProtocolError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import rfc8785
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from adapters.base import Adapter, AdapterSettings, SourceQuery, SourceResult
from gateway.broker import discover_adapters, load_adapters
from gateway.edge.attestation import verify_attestation
from gateway.edge.models import AttestedFacts
from gateway.edge.wire import fact_json, parse_result_body, query_body
from gateway.envelope import HubKeys, MemoryReplayCache, open_envelope, seal
from gateway.errors import EdgeRefused, HeduiError, SourceProtocolError, SourceUnavailable
from gateway.ids import MemberId
from gateway.members import MemberRegistry
from gateway.safe_json import loads as safe_json_loads
from gateway.store import Database
from gateway.store.at_rest import open_at_rest, seal_at_rest

JOSE = "application/jose"
QUERY_PATH = "/v1/edge/queries"
MAX_ANSWER_BYTES = 8 * 1024 * 1024
log = logging.getLogger(__name__)


class EdgeAgency(BaseModel):
    """A source served by an agency's edge node: its URL, its member id, and (when the hub does not have the
    adapter package installed) the categories it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    edge: str = Field(pattern=r"https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?")
    member: str
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class StoredFacts:
    adapter: str
    edge_member: str
    facts_digest: str
    facts: list[dict[str, Any]] = field(repr=False)  # personal data: never in a repr


class AttestedFactsStore:
    """The facts each edge returned, encrypted at rest, by verification and adapter."""

    def __init__(self, database: Database, storage_key: Callable[[], bytes]) -> None:
        self._database = database
        self._storage_key = storage_key

    async def put(self, verification_id: str, adapter: str, edge_member: str, digest: str, facts: Any) -> None:
        aad = f"{verification_id}/{adapter}".encode("ascii")
        sealed = seal_at_rest(self._storage_key(), rfc8785.dumps([fact_json(f) for f in facts]), aad)
        async with self._database.session() as session, session.begin():
            await session.merge(
                AttestedFacts(
                    verification_id=verification_id,
                    adapter=adapter,
                    edge_member=edge_member,
                    facts_digest=digest,
                    facts_sealed=sealed,
                    recorded_at=datetime.now(UTC),
                )
            )

    async def get(self, verification_id: str) -> dict[str, list[dict[str, Any]]]:
        """The stored facts of one verification, by adapter (JSON form, as attested)."""
        return {stored.adapter: stored.facts for stored in await self.rows(verification_id)}

    async def rows(self, verification_id: str) -> list[StoredFacts]:
        """The stored facts of one verification with the edge that attested them and the digest it signed."""
        async with self._database.session() as session:
            rows = (
                await session.scalars(select(AttestedFacts).where(AttestedFacts.verification_id == verification_id))
            ).all()
        found = []
        for row in rows:
            aad = f"{verification_id}/{row.adapter}".encode("ascii")
            facts = json.loads(open_at_rest(self._storage_key(), row.facts_sealed, aad))
            found.append(StoredFacts(row.adapter, row.edge_member, row.facts_digest, facts))
        return found


class EdgeSource:
    """An :class:`adapters.base.Adapter` whose agency answers through an edge node."""

    def __init__(
        self,
        name: str,
        agency: EdgeAgency,
        categories: frozenset[str],
        *,
        hub_id: str,
        keys: Callable[[], HubKeys],
        members: MemberRegistry,
        facts: AttestedFactsStore,
        settings: AdapterSettings,
    ) -> None:
        self.name = name
        self.categories = categories
        self.member_id = str(MemberId.parse(agency.member))
        self._url = agency.edge.rstrip("/") + QUERY_PATH
        self._hub_id = hub_id
        self._keys = keys
        self._members = members
        self._facts = facts
        self._replay = MemoryReplayCache()  # an edge's answer is accepted once
        self._http = httpx.AsyncClient(
            timeout=settings.timeout_s, limits=httpx.Limits(max_connections=settings.max_connections)
        )

    async def fetch(self, query: SourceQuery) -> SourceResult:
        keys = self._keys()
        record = await self._members.get(self.member_id)
        if record.role != "agency":
            raise EdgeRefused("the edge's member is not registered as an agency", edge_code="role_not_allowed")
        sealed = seal(
            query_body(self.name, query),
            issuer=self._hub_id,
            audience=self.member_id,
            signing_key=keys.signing_key,
            recipient_key=await self._members.encryption_key(self.member_id),
        )
        try:
            response = await self._http.post(self._url, content=sealed.token, headers={"Content-Type": JOSE})
        except httpx.HTTPError as exc:
            raise SourceUnavailable("the edge node could not be reached") from exc
        if response.status_code != 200:
            raise _refusal(response)
        if len(response.content) > MAX_ANSWER_BYTES or not response.headers.get("content-type", "").startswith(JOSE):
            raise SourceProtocolError("the edge's answer is not a bounded sealed envelope")
        try:
            opened = await open_envelope(
                response.content,
                decryption_keys=keys.decryption_keys,
                resolver=self._members,
                audience=self._hub_id,
                replay=self._replay,
                expected_request_jws=sealed.jws,
                max_bytes=MAX_ANSWER_BYTES,
            )
        except HeduiError as exc:
            raise SourceProtocolError(f"the edge's answer does not verify ({exc.code})") from exc
        if opened.issuer != self.member_id:
            raise SourceProtocolError("the edge's answer is signed by another member")
        result, attestation = parse_result_body(opened.body, self.name, len(query.members))
        try:
            claims = verify_attestation(
                attestation,
                record.public_jwks,
                facts=result.facts,
                expect={
                    "iss": self.member_id,
                    "verification_id": query.verification_id,
                    "adapter": self.name,
                    "as_of": query.as_of.isoformat(),
                    "req": opened.req or "",
                },
            )
        except HeduiError as exc:
            raise SourceProtocolError(f"the agency's attestation does not verify ({exc.code})") from exc
        await self._facts.put(query.verification_id, self.name, self.member_id, claims["facts_digest"], result.facts)
        return replace(result, attestation=attestation)

    async def health(self) -> bool:
        """An edge answers nothing but queries: reachable (any HTTP answer) counts as healthy."""
        try:
            await self._http.get(self._url)
        except httpx.HTTPError:
            return False
        return True

    async def aclose(self) -> None:
        await self._http.aclose()


def _refusal(response: httpx.Response) -> HeduiError:
    code = "http_error"
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        try:
            problem = safe_json_loads(response.content)  # an edge node's answer: outside JSON
        except ValueError:
            problem = {}
        if isinstance(problem, dict) and isinstance(problem.get("code"), str) and len(problem["code"]) <= 64:
            code = problem["code"]
    if response.status_code >= 500 and code != "source_protocol_error":
        return SourceUnavailable(f"the edge node answered HTTP {response.status_code} ({code})")
    return EdgeRefused(f"the edge node refused the query ({code})", edge_code=code)


def load_sources(
    agencies: Mapping[str, str | EdgeAgency],
    settings: AdapterSettings,
    *,
    hub_id: str,
    keys: Callable[[], HubKeys],
    members: MemberRegistry,
    database: Database,
) -> dict[str, Adapter]:
    """The hub's sources: in-process adapters for agency URLs, :class:`EdgeSource` for edges."""
    sources = load_adapters({name: url for name, url in agencies.items() if isinstance(url, str)}, settings)
    edges = {name: agency for name, agency in agencies.items() if isinstance(agency, EdgeAgency)}
    if not edges:
        return sources
    installed = discover_adapters()
    facts = AttestedFactsStore(database, lambda: keys().storage_key)
    for name, agency in edges.items():
        categories = agency.categories
        if categories is None and name in installed:
            categories = tuple(installed[name].categories)
        if not categories:
            log.error("edge source %s names no categories and its adapter is not installed; it is left out", name)
            continue
        sources[name] = EdgeSource(
            name,
            agency,
            frozenset(categories),
            hub_id=hub_id,
            keys=keys,
            members=members,
            facts=facts,
            settings=settings,
        )
    return sources
