"""Metrics read from the hub's state when ``/metrics`` is scraped rather than counted as things happen:
the audit tree and its latest checkpoint, readiness, and when each hub key must be rotated
(docs/architecture.md §11; the alerts that read them are in deploy/prometheus/alerts.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.audit import LOG_KEY_FILE
from gateway.envelope.keys import JWKS_FILE

if TYPE_CHECKING:
    from gateway.context import HubContext

_DAY_S = 86400.0


def key_created_at(jwk: dict[str, Any], file: Path) -> float:
    """When a key was made: its ``iat`` member (written by ``hedui keys init`` / ``rotate``), else, for keys
    made before keys were dated, the last change of its file (later than the key itself, never earlier)."""
    created = jwk.get("iat")
    if isinstance(created, int | float) and not isinstance(created, bool):
        return float(created)
    return file.stat().st_mtime


def key_expiries(key_dir: Path, *, signing_kid: str, encryption_kid: str, max_age_days: float) -> dict[str, float]:
    """When each current hub key reaches ``max_age_days``, Unix time, by key: signing, encryption, log."""
    jwks_file = key_dir / JWKS_FILE
    keys = {str(key.get("kid")): key for key in json.loads(jwks_file.read_text(encoding="utf-8"))["keys"]}
    log_file = key_dir / LOG_KEY_FILE
    created = {
        "signing": key_created_at(keys.get(signing_kid, {}), jwks_file),
        "encryption": key_created_at(keys.get(encryption_kid, {}), jwks_file),
        "log": key_created_at(json.loads(log_file.read_text(encoding="utf-8")), log_file),
    }
    return {name: at + max_age_days * _DAY_S for name, at in created.items()}


async def refresh_scraped_metrics(hub: HubContext) -> None:
    metrics = hub.metrics
    metrics.audit_tree_size.set(await hub.audit.tree_size())
    checkpoint = await hub.audit.latest_checkpoint()
    if checkpoint is not None:
        metrics.audit_checkpoint_tree_size.set(checkpoint.tree_size)
        metrics.audit_checkpoint_timestamp.set(checkpoint.signed_at.timestamp())
    # The same answer /readyz gives: the database, and every required source (HEDUI_OPTIONAL_SOURCES aside).
    ready = await hub.database.ping()
    if ready:
        ready = (await hub.broker.readiness(hub.settings.agencies, set(hub.settings.optional_sources))).ready
    metrics.record_readiness(ready)
    keys = hub.keys
    expiries = key_expiries(
        hub.settings.key_dir,
        signing_kid=str(keys.signing_key.kid),
        encryption_kid=str(keys.encryption_key.kid),
        max_age_days=hub.settings.key_max_age_days,
    )
    for name, at in expiries.items():
        metrics.key_expiry.labels(name).set(at)
