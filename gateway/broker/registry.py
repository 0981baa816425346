"""Adapter discovery through the ``hedui.adapters`` entry-point group (the built-in five included).

As with keyring's backends, one broken plugin must not stop the hub: a plugin that fails to import or to
construct is logged and left out, and the sources it would have served come back ``unavailable``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import entry_points

from adapters.base import Adapter, AdapterSettings

ENTRY_POINT_GROUP = "hedui.adapters"
log = logging.getLogger(__name__)


def discover_adapters() -> dict[str, type[Adapter]]:
    """Every importable adapter class registered under the entry-point group, by name."""
    found: dict[str, type[Adapter]] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[entry_point.name] = entry_point.load()
        except Exception:  # a third-party plugin may fail in any way; it must not take the hub down
            log.exception("adapter plugin %s failed to load; its source will be unavailable", entry_point.name)
    return found


def load_adapters(agency_urls: Mapping[str, str], settings: AdapterSettings | None = None) -> dict[str, Adapter]:
    """Instantiate the adapters that have an agency URL configured."""
    classes = discover_adapters()
    adapters: dict[str, Adapter] = {}
    for name, url in agency_urls.items():
        adapter_class = classes.get(name)
        if adapter_class is None:
            log.error("no adapter plugin named %s is installed; its source will be unavailable", name)
            continue
        try:
            adapters[name] = adapter_class(url, settings or AdapterSettings())  # type: ignore[call-arg]
        except Exception:
            log.exception("adapter %s failed to start; its source will be unavailable", name)
    return adapters
