"""The hub's key directory as a whole (layout in keys/README.md): the envelope keys and at-rest secrets of
``gateway.envelope`` and the audit log key of ``gateway.audit``."""

from __future__ import annotations

from pathlib import Path

from gateway.audit.keys import LOG_KEY_FILE, init_log_key
from gateway.envelope import HubKeys, init_key_dir


def init_hub_key_dir(path: Path, *, force: bool = False) -> HubKeys:
    """Generate every key of a hub; existing keys are never replaced unless ``force``."""
    keys = init_key_dir(path, force=force)
    init_log_key(path, force=force)
    return keys


def ensure_hub_key_dir(path: Path) -> None:
    """Create what is missing (a key directory from before the audit log gets its log key)."""
    if not path.exists():
        init_hub_key_dir(path)
    elif not (path / LOG_KEY_FILE).exists():
        init_log_key(path)
