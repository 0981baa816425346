"""Everything one hub process holds: database, keys, member registry, broker, replay cache, services.

Built once at start-up (``open_hub``) and closed at shutdown; routers reach it through ``app.state.hub``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters.base import AdapterSettings
from gateway.broker import Broker, SourcePolicy, load_adapters
from gateway.envelope import HubKeys, OpenedMessage, SqlReplayCache, open_envelope
from gateway.errors import ConfigurationError
from gateway.meanstest.flow import VerificationService
from gateway.members import MemberRegistry
from gateway.metrics import HubMetrics
from gateway.settings import Settings
from gateway.store import Database
from gateway.store.database import migrate_async

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HubContext:
    settings: Settings
    database: Database
    keys: HubKeys
    members: MemberRegistry
    broker: Broker
    replay: SqlReplayCache
    metrics: HubMetrics
    verifications: VerificationService

    async def open_request(self, token: bytes) -> OpenedMessage:
        """Open a request envelope addressed to this hub (DESIGN §4); raises EnvelopeError subclasses."""
        return await open_envelope(
            token,
            decryption_keys=self.keys.decryption_keys,
            resolver=self.members,
            audience=self.settings.hub_id,
            replay=self.replay,
            max_bytes=self.settings.max_envelope_bytes,
        )

    async def aclose(self) -> None:
        await self.broker.aclose()
        await self.database.dispose()


async def open_hub(settings: Settings, metrics: HubMetrics | None = None) -> HubContext:
    if not (settings.key_dir / "hub.private.jwks.json").exists():
        raise ConfigurationError(f"no hub keys in {settings.key_dir}; run `hedui keys init` first")
    keys = HubKeys.load(settings.key_dir)
    if settings.migrate_on_start:
        await migrate_async(settings.database_url)
    database = Database(settings.database_url)
    metrics = metrics or HubMetrics()
    members = MemberRegistry(database)
    adapter_settings = AdapterSettings(timeout_s=settings.source_timeout_s)
    broker = Broker(
        load_adapters(settings.agencies, adapter_settings),
        SourcePolicy(
            timeout_s=settings.source_timeout_s,
            retries=settings.source_retries,
            concurrency=settings.source_concurrency,
            breaker_failures=settings.breaker_failures,
            breaker_reset_s=settings.breaker_reset_s,
        ),
        metrics,
    )
    return HubContext(
        settings=settings,
        database=database,
        keys=keys,
        members=members,
        broker=broker,
        replay=SqlReplayCache(database),
        metrics=metrics,
        verifications=VerificationService(
            hub_id=settings.hub_id, database=database, keys=keys, members=members, broker=broker, metrics=metrics
        ),
    )
