"""Adapter plugins that bring their own category (docs/adapters.md): the vocabulary they add at start-up.

A third-party adapter class (``hedui.adapters`` entry point) may carry a class attribute ``vocabulary``, a
:class:`PluginVocabulary`: its category, the facts it emits, the household indicators the hub derives from
them and the purposes that may request the category. The hub merges every plugin's vocabulary into
contracts/indicators.yaml's and the purpose catalogue when it starts; a code or category that clashes with
the built-in vocabulary or another plugin stops it with a :class:`ConfigurationError` naming both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from typing import Literal

from adapters.base import Fact
from gateway.auth.purposes import PurposeCatalog
from gateway.errors import ConfigurationError

Aggregate = Literal["sum", "count_true"]
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FACT_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}\.[a-z][a-z0-9_.]{0,63}")
BUILT_IN_CATEGORIES = ("hukou", "civil_affairs", "tax", "housing", "banking")  # gateway.meanstest.request


@dataclass(frozen=True, slots=True)
class PluginTerm:
    """A fact the adapter emits, or an indicator it provides: named as in contracts/indicators.yaml."""

    code: str
    zh: str
    en: str
    unit: str
    period: str


@dataclass(frozen=True, slots=True)
class PluginIndicator:
    """A household indicator: ``aggregate`` of fact ``fact`` over the living members.

    ``sum`` adds the values (yuan, counts); ``count_true`` counts the members for whom the fact is true.
    """

    term: PluginTerm
    fact: str
    aggregate: Aggregate


@dataclass(frozen=True, slots=True)
class PluginVocabulary:
    category: str
    facts: tuple[PluginTerm, ...]
    indicators: tuple[PluginIndicator, ...]
    purposes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plugin:
    """A plugin's vocabulary under the adapter (entry point) name that serves it."""

    adapter: str
    vocabulary: PluginVocabulary


@cache
def plugins() -> tuple[Plugin, ...]:
    """Every installed adapter plugin that declares a vocabulary, checked; cached for the process."""
    from gateway.broker import discover_adapters

    found = [
        Plugin(name, declared)
        for name, adapter_class in sorted(discover_adapters().items())
        if isinstance(declared := getattr(adapter_class, "vocabulary", None), PluginVocabulary)
    ]
    check_plugins(found)
    return tuple(found)


def check_plugins(found: Sequence[Plugin], built_in: Iterable[str] | None = None) -> None:
    """Refuse malformed declarations and clashes with the built-in vocabulary or between plugins."""
    if built_in is None:
        from gateway.contracts import base_vocabulary

        built_in = base_vocabulary()
    owners: dict[str, str] = {code: "contracts/indicators.yaml" for code in built_in}
    owners.update({category: "the built-in categories" for category in BUILT_IN_CATEGORIES})
    for plugin in found:
        declared = plugin.vocabulary
        names = [
            (declared.category, _CODE),
            *((term.code, _FACT_CODE) for term in declared.facts),
            *((indicator.term.code, _CODE) for indicator in declared.indicators),
        ]
        for code, pattern in names:
            if not pattern.fullmatch(code):
                raise ConfigurationError(f"adapter plugin {plugin.adapter} declares a malformed code {code!r}")
            if code in owners:
                raise ConfigurationError(
                    f"adapter plugin {plugin.adapter} declares {code!r}, which {owners[code]} already defines"
                )
            owners[code] = f"adapter plugin {plugin.adapter}"
        emitted = {term.code for term in declared.facts}
        for indicator in declared.indicators:
            if indicator.fact not in emitted:
                raise ConfigurationError(
                    f"adapter plugin {plugin.adapter}: indicator {indicator.term.code} derives from an undeclared fact"
                )


def plugin_categories() -> tuple[str, ...]:
    return tuple(plugin.vocabulary.category for plugin in plugins())


def plugin_indicator_sources() -> dict[str, tuple[str, ...]]:
    """Each plugin indicator with the adapter it needs (as ``INDICATOR_SOURCES`` of the built-ins)."""
    return {i.term.code: (p.adapter,) for p in plugins() for i in p.vocabulary.indicators}


def plugin_indicator_values(
    facts: Mapping[str, Sequence[Fact]], answered: set[str], living: Sequence[int]
) -> dict[str, int | float | None]:
    """The indicators of the plugins whose adapter answered for this household (a report shows a plugin's
    indicators only when its category was asked for and answered, so reports without it keep their shape)."""
    values: dict[str, int | float | None] = {}
    for plugin in plugins():
        if plugin.adapter not in answered:
            continue
        for indicator in plugin.vocabulary.indicators:
            chosen = [f for f in facts.get(indicator.fact, ()) if f.member in living]
            if indicator.aggregate == "count_true":
                values[indicator.term.code] = len({f.member for f in chosen if f.value is True})
            else:
                total = sum((Decimal(str(f.value)) for f in chosen if _is_number(f.value)), Decimal(0))
                values[indicator.term.code] = float(total.quantize(Decimal("0.01")))
    return values


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def purposes_for(category: str) -> tuple[str, ...]:
    """The purposes that a plugin lets request its category (empty for a built-in category)."""
    return tuple(
        p for plugin in plugins() if plugin.vocabulary.category == category for p in plugin.vocabulary.purposes
    )


def extend_catalog(catalog: PurposeCatalog) -> PurposeCatalog:
    """The purpose catalogue with each plugin's category added to the purposes it names."""
    added: dict[str, set[str]] = {}
    for plugin in plugins():
        for code in plugin.vocabulary.purposes:
            if catalog.get(code) is None:
                raise ConfigurationError(f"adapter plugin {plugin.adapter} names an unknown purpose {code!r}")
            added.setdefault(code, set()).add(plugin.vocabulary.category)
    return PurposeCatalog(
        replace(purpose, categories=purpose.categories | added.get(purpose.code, set())) for purpose in catalog
    )
