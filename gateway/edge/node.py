"""The edge node (``hedui edge serve``): one adapter run inside the agency's network as a small service.

It accepts only ``POST /v1/edge/queries``: an envelope (docs/architecture.md §4) signed by the hub, whose key
it takes from the hub's signed federation metadata (:mod:`gateway.edge.trust`), encrypted to the edge's own
key, never seen before (the replay cache). It asks the agency through the same adapter code the hub runs
in-process, signs an attestation of the facts with the agency's key and answers with an envelope signed by that
key, encrypted to the hub and bound to the request (``req``). Every query, answered or refused, is an
``edge.queried`` entry of the edge's own RFC 9162 audit log, committed before the answer leaves.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

from adapters.base import Adapter, AdapterSettings, SourceQuery, SourceResult
from gateway.api.problems import install_problem_handlers
from gateway.audit import AuditLog, EdgeQueried, LogKey, log_origin, subject_ref
from gateway.auth import PurposeCatalog
from gateway.broker import discover_adapters
from gateway.contracts import CONTRACTS_DIR
from gateway.edge.attestation import digest_hex, facts_digest, sign_attestation
from gateway.edge.trust import FederationTrust
from gateway.edge.wire import parse_query_body, result_body
from gateway.envelope import HubKeys, OpenedMessage, SqlReplayCache, open_envelope, request_binding, seal
from gateway.errors import (
    ConfigurationError,
    EnvelopeInvalid,
    HeduiError,
    PurposeNotAllowed,
    SourceUnavailable,
    UnsupportedMediaType,
)
from gateway.ids import MemberId
from gateway.plugins import extend_catalog
from gateway.store import Database
from gateway.store.database import migrate_async

JOSE = "application/jose"
DATABASE_FILE = "edge.db"
MAX_QUERY_BYTES = 262_144


@dataclass(frozen=True)
class EdgeConfig:
    """What ``hedui edge serve`` is told: which adapter, which agency, who it is, where its keys and data are."""

    adapter: str
    agency_url: str
    member_id: str
    key_dir: Path
    hub_url: str
    data_dir: Path
    purposes: frozenset[str] | None = None  # None: every purpose of the catalogue that covers the adapter
    timeout_s: float = 5.0
    pinned_hub_jwks: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / DATABASE_FILE}"


def served_purposes(categories: Iterable[str], configured: frozenset[str] | None) -> frozenset[str]:
    """The purposes an edge answers: those configured, or every catalogue purpose covering its categories."""
    if configured is not None:
        return configured
    wanted = set(categories)
    catalogue = extend_catalog(PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"))
    return frozenset(p.code for p in catalogue if wanted & p.categories)


class EdgeNode:
    """Everything one edge process holds; :meth:`open` at start-up, :meth:`aclose` at shutdown."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        adapter: Adapter,
        keys: HubKeys,
        database: Database,
        audit: AuditLog,
        trust: FederationTrust,
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.keys = keys
        self.database = database
        self.audit = audit
        self.trust = trust
        self.replay = SqlReplayCache(database)
        self.purposes = served_purposes(adapter.categories, config.purposes)

    @classmethod
    async def open(cls, config: EdgeConfig) -> EdgeNode:
        member_id = str(MemberId.parse(config.member_id))
        try:
            keys = HubKeys.load(config.key_dir)
            log_key = LogKey.load(config.key_dir, name=log_origin(member_id))
        except (ConfigurationError, OSError) as exc:
            raise ConfigurationError(f"no usable edge keys in {config.key_dir}; run `hedui edge init`") from exc
        adapter_class = discover_adapters().get(config.adapter)
        if adapter_class is None:
            raise ConfigurationError(f"no adapter plugin named {config.adapter} is installed")
        config.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate_async(config.database_url)
        database = Database(config.database_url)
        trust = FederationTrust(config.hub_url, config.data_dir, pinned_hub_jwks=config.pinned_hub_jwks)
        try:
            await trust.load()
        except HeduiError:
            await database.dispose()
            await trust.aclose()
            raise
        adapter = adapter_class(config.agency_url, AdapterSettings(timeout_s=config.timeout_s))  # type: ignore[call-arg]
        audit = AuditLog(database, log_key=log_key, subject_pepper=keys.subject_pepper)
        return cls(config, adapter=adapter, keys=keys, database=database, audit=audit, trust=trust)

    @property
    def member_id(self) -> str:
        return self.config.member_id

    async def answer(self, token: bytes) -> str:
        """Open a query, ask the agency, attest and seal the answer; every outcome is audited first."""
        request_digest = hashlib.sha256(token).hexdigest()
        entry: dict[str, Any] = {"actor": self.member_id, "source": self.adapter.name, "request_digest": request_digest}
        try:
            opened = await open_envelope(
                token,
                decryption_keys=self.keys.decryption_keys,
                resolver=self.trust,
                audience=self.member_id,
                replay=self.replay,
                max_bytes=MAX_QUERY_BYTES,
            )
            entry["actor"] = opened.issuer
            query = parse_query_body(opened.body, self.adapter.name)
            entry.update(
                verification_id=query.verification_id,
                purpose=query.purpose,
                subject_refs=tuple(subject_ref(self.keys.subject_pepper, m.id_number) for m in query.members),
            )
            if query.purpose not in self.purposes:
                raise PurposeNotAllowed("this edge does not serve that purpose")
        except HeduiError as exc:
            await self.audit.append(EdgeQueried(**entry, outcome="refused", reason=exc.code))
            raise
        try:
            async with asyncio.timeout(self.config.timeout_s):
                result = await self.adapter.fetch(query)
        except TimeoutError as exc:
            await self.audit.append(EdgeQueried(**entry, outcome="failed", reason="timeout"))
            raise SourceUnavailable("the agency did not answer in time") from exc
        except HeduiError as exc:
            await self.audit.append(EdgeQueried(**entry, outcome="failed", reason=exc.code))
            raise
        return await self._attested_answer(opened, query, result, entry)

    async def _attested_answer(
        self, opened: OpenedMessage, query: SourceQuery, result: SourceResult, entry: dict[str, Any]
    ) -> str:
        attestation = sign_attestation(
            issuer=self.member_id,
            verification_id=query.verification_id,
            adapter=self.adapter.name,
            as_of=query.as_of.isoformat(),
            request_binding=request_binding(opened.jws),
            facts=result.facts,
            signing_key=self.keys.signing_key,
        )
        facts_sha256 = digest_hex(facts_digest(result.facts))
        await self.audit.append(EdgeQueried(**entry, outcome="answered", facts_sha256=facts_sha256))
        sealed = seal(
            result_body(result, attestation),
            issuer=self.member_id,
            audience=opened.issuer,
            signing_key=self.keys.signing_key,
            recipient_key=await self.trust.hub_encryption_key(),
            request_jws=opened.jws,
        )
        return sealed.token

    async def aclose(self) -> None:
        await self.adapter.aclose()
        await self.audit.aclose()
        await self.trust.aclose()
        await self.database.dispose()


def create_edge_app(config: EdgeConfig) -> FastAPI:
    """The edge's HTTP service: ``POST /v1/edge/queries`` and a health check, nothing else."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        node = await EdgeNode.open(config)
        app.state.edge = node
        try:
            yield
        finally:
            await node.aclose()

    # No documentation routes: an edge exposes nothing but its one endpoint.
    app = FastAPI(
        title="Hedui edge node", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    install_problem_handlers(app)

    @app.post("/v1/edge/queries", response_class=Response)
    async def edge_query(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != JOSE:
            raise UnsupportedMediaType(f"send the sealed query as {JOSE}")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_QUERY_BYTES:
                raise EnvelopeInvalid("the envelope exceeds the size limit")
        node: EdgeNode = request.app.state.edge
        return Response(await node.answer(bytes(body)), media_type=JOSE)

    return app
