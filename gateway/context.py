"""Everything one hub process holds: database, keys, member registry, broker, replay cache, services.

Built once at start-up (``open_hub``) and closed at shutdown; routers reach it through ``app.state.hub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from adapters.base import AdapterSettings
from gateway.audit import AuditLog, LogKey, log_origin
from gateway.auth import (
    AccessTokenIssuer,
    AccessTokenValidator,
    Caller,
    ClientAssertionVerifier,
    ExternalIssuer,
    PurposeCatalog,
)
from gateway.batch.runtime import BatchRuntime
from gateway.broker import Broker, SourcePolicy
from gateway.broker.quota import open_limiter
from gateway.consent import ConsentService
from gateway.contracts import CONTRACTS_DIR
from gateway.edge.source import load_sources
from gateway.envelope import HubKeys, KeyRing, OpenedMessage, SqlReplayCache, open_envelope
from gateway.errors import ConfigurationError, SenderMismatch
from gateway.meanstest.checks import VerificationChecks
from gateway.meanstest.flow import VerificationService
from gateway.meanstest.policy import PolicySet, load_policies
from gateway.members import MemberRegistry
from gateway.metrics import HubMetrics
from gateway.plugins import extend_catalog
from gateway.registry import RegistryService
from gateway.settings import Settings
from gateway.store import Database
from gateway.store.database import migrate_async

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HubContext:
    settings: Settings
    database: Database
    keyring: KeyRing
    audit: AuditLog
    audit_key: LogKey
    members: MemberRegistry
    broker: Broker
    replay: SqlReplayCache
    metrics: HubMetrics
    purposes: PurposeCatalog
    token_issuer: AccessTokenIssuer
    tokens: AccessTokenValidator
    client_assertions: ClientAssertionVerifier
    registry: RegistryService
    consents: ConsentService
    policies: PolicySet
    verifications: VerificationService
    batches: BatchRuntime = field(init=False)
    sweeper: asyncio.Task[None] | None = None

    @property
    def keys(self) -> HubKeys:
        return self.keyring.current

    @property
    def token_endpoint(self) -> str:
        return f"{self.settings.public_url}/oauth2/token"

    async def open_request(
        self, token: bytes, caller: Caller, *, max_bytes: int | None = None, remember_jti: bool = True
    ) -> OpenedMessage:
        """Open a request envelope addressed to this hub (docs/architecture.md §4) and check that the member who
        signed it is the one the access token was issued to (so one member's token cannot carry another's message).

        ``remember_jti=False`` leaves the replay check to the caller, which must claim ``jti_claim(opened)``
        before acting on the message (the verification flow does, in its checks' round trip)."""
        opened = await open_envelope(
            token,
            decryption_keys=self.keys.decryption_keys,
            resolver=self.members,
            audience=self.settings.hub_id,
            replay=self.replay if remember_jti else None,
            max_bytes=max_bytes or self.settings.max_envelope_bytes,
        )
        if opened.issuer != caller.member_id:
            raise SenderMismatch("the envelope's signer is not the access token's subject")
        return opened

    def public_jwks(self) -> dict[str, Any]:
        """The hub's JWKS: envelope keys first (the first "sig" key signs envelopes), then the log key."""
        return {"keys": [*self.keys.public_jwks()["keys"], self.audit_key.public_jwk()]}

    async def sweep_abandoned(self) -> None:
        """Close verifications a stopped hub process left open, now and then every tenth of the bound."""
        every = self.settings.verification_abandon_after_s / 10
        while True:
            try:
                await self.verifications.close_abandoned(older_than_s=self.settings.verification_abandon_after_s)
            except Exception as exc:  # the database is away, say: try again next round
                log.warning("abandoned verifications not swept: %s", type(exc).__name__)
            await asyncio.sleep(every)

    async def aclose(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sweeper
        await self.batches.aclose()  # in-process workers finish their items while the rest is still up
        await self.broker.aclose()
        await self.audit.aclose()  # commits what is queued and signs a last checkpoint
        await self.database.dispose()


async def open_hub(settings: Settings, metrics: HubMetrics | None = None) -> HubContext:
    try:
        keyring = KeyRing(settings.key_dir)
        audit_key = LogKey.load(settings.key_dir, name=log_origin(settings.hub_id))
    except (ConfigurationError, OSError) as exc:
        raise ConfigurationError(f"no usable hub keys in {settings.key_dir}; run `hedui keys init` first") from exc
    if settings.migrate_on_start:
        await migrate_async(settings.database_url)
    database = Database(settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_overflow)
    await database.prewarm()  # no connection is opened on the request path in steady state
    metrics = metrics or HubMetrics()
    members = MemberRegistry(database)
    replay = SqlReplayCache(database)
    # Adapter plugins add their categories to the purposes they name; a clash stops the hub here.
    purposes = extend_catalog(PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"))
    policies = load_policies(CONTRACTS_DIR / "policies")  # an invalid policy stops the hub here
    adapter_settings = AdapterSettings(timeout_s=settings.source_timeout_s)
    # Agency quotas (docs/architecture.md §7, §10): shared by every process on Redis, else per process.
    limiter = (
        open_limiter(settings.agency_quotas, settings.redis_url, namespace=f"{settings.redis_prefix}:{settings.hub_id}")
        if settings.agency_quotas
        else None
    )
    sources = load_sources(
        settings.agencies,
        adapter_settings,
        hub_id=settings.hub_id,
        keys=lambda: keyring.current,
        members=members,
        database=database,
    )
    broker = Broker(
        sources,
        SourcePolicy(
            timeout_s=settings.source_timeout_s,
            retries=settings.source_retries,
            concurrency=settings.source_concurrency,
            breaker_failures=settings.breaker_failures,
            breaker_reset_s=settings.breaker_reset_s,
        ),
        metrics,
        limiter,
    )
    external = None
    if settings.external_issuer:
        if not (settings.external_jwks_url and settings.external_audience):
            raise ConfigurationError("an external issuer needs external_jwks_url and external_audience")
        external = ExternalIssuer(settings.external_issuer, settings.external_jwks_url, settings.external_audience)

    token_endpoint = f"{settings.public_url}/oauth2/token"

    def current_keys() -> HubKeys:
        return keyring.current

    audit = AuditLog(
        database,
        log_key=audit_key,
        subject_pepper=keyring.current.subject_pepper,
        checkpoint_interval_s=settings.audit_checkpoint_interval_s,
    )
    # The registry uses only the storage key and the subject pepper, which key rotation leaves in place.
    registry = RegistryService(database, keyring.current, audit=audit)
    consents = ConsentService(database, current_keys, hub_id=settings.hub_id, audit=audit)
    hub = HubContext(
        settings=settings,
        database=database,
        keyring=keyring,
        audit=audit,
        audit_key=audit_key,
        members=members,
        broker=broker,
        replay=replay,
        metrics=metrics,
        purposes=purposes,
        token_issuer=AccessTokenIssuer(
            current_keys,
            issuer=settings.public_url,
            audience=settings.hub_id,
            lifetime_s=settings.access_token_lifetime_s,
        ),
        tokens=AccessTokenValidator(
            current_keys, members, issuer=settings.public_url, audience=settings.hub_id, external=external
        ),
        client_assertions=ClientAssertionVerifier(members, replay, audiences={token_endpoint, settings.public_url}),
        registry=registry,
        consents=consents,
        policies=policies,
        verifications=VerificationService(
            hub_id=settings.hub_id,
            checks=VerificationChecks(database, replay),
            policies=policies,
            audit=audit,
            database=database,
            keys=current_keys,
            members=members,
            broker=broker,
            metrics=metrics,
            purposes=purposes,
        ),
    )
    hub.batches = await BatchRuntime.open(
        settings,
        database=database,
        keys=current_keys,
        audit=audit,
        members=members,
        purposes=purposes,
        verifications=hub.verifications,
        limiter=limiter,
    )
    hub.sweeper = asyncio.create_task(hub.sweep_abandoned(), name="abandoned-verification-sweeper")
    return hub
