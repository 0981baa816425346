from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from gateway.broker import registry

BUILT_IN = {"hukou", "civil_affairs", "tax", "housing", "banking"}


def test_built_in_adapters_are_registered_as_entry_points() -> None:
    assert set(registry.discover_adapters()) >= BUILT_IN


def test_a_broken_plugin_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    real = registry.entry_points

    def with_broken(group: str) -> list[EntryPoint]:
        broken = EntryPoint("broken", "adapters.does_not_exist:Nothing", group)
        return [*real(group=group), broken]

    monkeypatch.setattr(registry, "entry_points", with_broken)
    found = registry.discover_adapters()
    assert set(found) >= BUILT_IN
    assert "broken" not in found
    assert "broken" in caplog.text

    loaded = registry.load_adapters({"tax": "http://127.0.0.1:9", "broken": "http://127.0.0.1:9"})
    assert set(loaded) == {"tax"}
