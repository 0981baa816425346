"""Hub settings (pydantic-settings, environment prefix ``HEDUI_``); embedded defaults run with no server."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.broker.quota import AgencyQuota
from gateway.edge.source import EdgeAgency
from gateway.errors import InvalidMemberId
from gateway.ids import MemberId

DEFAULT_HUB_ID = "CN/GOV/11100000MB0348916Y/hub"


class Settings(BaseSettings):
    """Every knob of the hub. ``HEDUI_<NAME>`` in the environment overrides each field (JSON for maps)."""

    # HEDUI_SECRETS_DIR: a directory of files named like the variables (hedui_database_url, ...), one value
    # each: Docker and Kubernetes secrets, so that no secret is an environment literal (docs/operations.md).
    model_config = SettingsConfigDict(
        env_prefix="HEDUI_", extra="ignore", secrets_dir=os.environ.get("HEDUI_SECRETS_DIR")
    )

    hub_id: str = Field(DEFAULT_HUB_ID, description="The hub's own member id (the `aud` of requests)")
    database_url: str = Field(
        "sqlite+aiosqlite:///var/hedui.db", description="SQLAlchemy async URL; PostgreSQL in production"
    )
    key_dir: Path = Field(Path("var/keys"), description="Directory of the hub's private keys (`hedui keys init`)")
    public_url: str = Field(
        "http://127.0.0.1:8080", description="Base URL of the hub as clients reach it: OAuth2 issuer identifier"
    )
    access_token_lifetime_s: int = Field(300, gt=0, le=300, description="Lifetime of issued access tokens")
    federation_lifetime_s: int = Field(86400, gt=0, description="Validity of signed federation metadata")
    external_issuer: str | None = Field(None, description="Trust this OAuth2 issuer's tokens instead of our own")
    external_jwks_url: str | None = Field(None, description="JWKS URL of the external issuer")
    external_audience: str | None = Field(None, description="Audience the external issuer's tokens must name")
    agencies: dict[str, str | EdgeAgency] = Field(
        default_factory=dict,
        description='Adapter name -> agency base URL, or {"edge": URL, "member": ID} for an agency edge node; '
        "only these sources are loaded",
    )
    source_timeout_s: float = Field(5.0, gt=0, description="Per-source deadline of one verification")
    source_retries: int = Field(1, ge=0, le=5, description="Retries of a source after a connection failure")
    source_concurrency: int = Field(64, ge=1, description="Concurrent requests per agency (its quota)")
    breaker_failures: int = Field(5, ge=1, description="Consecutive failures that open a source's breaker")
    breaker_reset_s: float = Field(30.0, gt=0, description="Seconds an open breaker waits before a trial call")
    max_envelope_bytes: int = Field(1_048_576, description="Largest request envelope accepted")
    audit_checkpoint_interval_s: float = Field(
        5.0, gt=0, description="At most one signed audit checkpoint per interval while entries arrive"
    )
    log_json: bool = Field(False, description="Configure JSON logging at start-up (set by `hedui serve`)")
    migrate_on_start: bool = Field(True, description="Run Alembic migrations when the hub starts")
    key_max_age_days: float = Field(
        365, gt=0, description="Rotate a hub key before it is this old (the key expiry metric and alert)"
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        le=500,
        description="PostgreSQL connections each hub process keeps open (pre-warmed at start-up); at least the "
        "database work in flight at the expected concurrency (docs/performance.md)",
    )
    db_pool_overflow: int = Field(
        0,
        ge=0,
        le=500,
        description="Extra connections opened, and closed again, above the pool under bursts (0: requests wait "
        "for a pooled connection instead, which is cheaper than a new PostgreSQL backend)",
    )
    verification_abandon_after_s: float = Field(
        600.0,
        gt=0,
        description="A verification requested this long ago and never completed (its hub process stopped) "
        "is closed with a verification.abandoned entry, at start-up and by a sweeper; must exceed the longest "
        "a verification can run",
    )
    console_max_failures: int = Field(5, ge=1, le=100, description="Failed console sign-ins that lock an account")
    console_lockout_s: float = Field(900.0, gt=0, description="How long a locked console account stays locked")
    console_session_s: float = Field(3600.0, gt=0, description="Lifetime of a console session")
    console_oidc_issuer: str | None = Field(
        None,
        description="OpenID Connect provider for console sign-in (issuer URL, https); none: passwords only "
        "(docs/console.md)",
    )
    console_oidc_client_id: str | None = Field(None, description="The console's client id at the OIDC provider")
    console_oidc_client_secret: SecretStr | None = Field(
        None, description="The console's client secret at the OIDC provider (a HEDUI_SECRETS_DIR file)"
    )
    misuse_interval_s: float = Field(2.0, gt=0, description="How often misuse detection reads new audit entries")
    misuse_webhook_url: str | None = Field(None, description="POST each misuse alert here, as a JWS by the hub")

    queue_url: str = Field(
        "database", description="Work queue of batches: 'database' (the hub's own) or nats://host:port (JetStream)"
    )
    queue_name: str = Field("hedui-batch", description="Queue (and JetStream stream) name; one per deployment")
    queue_max_attempts: int = Field(3, ge=1, le=20, description="Deliveries of a batch item before it fails")
    queue_ack_wait_s: float = Field(60.0, gt=0, description="Seconds before an unacknowledged item is redelivered")
    batch_max_items: int = Field(10_000, ge=1, le=10_000, description="Items per batch submission call")
    batch_max_envelope_bytes: int = Field(33_554_432, description="Largest batch submission envelope accepted")
    batch_workers: int = Field(0, ge=0, description="Items processed concurrently inside the hub process (0: none)")
    batch_callback_max_attempts: int = Field(
        8, ge=1, le=50, description="Delivery attempts of a batch completion callback before it is failed"
    )
    batch_callback_backoff_s: float = Field(
        10.0, gt=0, description="Delay after a batch callback's first failed attempt; doubles each time (jittered)"
    )
    batch_callback_backoff_max_s: float = Field(3600.0, gt=0, description="Longest delay between callback attempts")
    batch_callback_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Total time a batch callback POST may take (connect to answer)"
    )
    batch_callback_poll_s: float = Field(
        2.0, gt=0, description="How often batch workers look for finished batches and due callbacks"
    )
    redis_url: str | None = Field(
        None, description="Redis for state shared by hub processes (agency quotas); none: per-process state"
    )
    redis_prefix: str = Field(
        "hedui", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Prefix of the hub's Redis keys (one per deployment)"
    )
    agency_quotas: dict[str, AgencyQuota] = Field(
        default_factory=dict,
        description='Adapter name -> quota, e.g. {"tax": {"rate_per_s": 20, "concurrency": 8}} (docs/reliability.md)',
    )
    optional_sources: list[str] = Field(
        default_factory=list,
        description="Sources /readyz does not wait for (JSON list); every other configured source must answer",
    )

    @field_validator("hub_id")
    @classmethod
    def _valid_member_id(cls, value: str) -> str:
        try:
            return str(MemberId.parse(value))
        except InvalidMemberId as exc:  # a ValueError is what pydantic collects with the other fields' errors
            raise ValueError(exc.detail) from exc
