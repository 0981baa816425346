"""Where the machine-readable contracts live, and the indicator vocabulary loaded from them.

contracts/ sits at the top of the repository (docs/architecture.md §2), next to the packages; ``HEDUI_CONTRACTS_DIR``
points elsewhere when the hub runs from an installed wheel with its contracts deployed separately.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

CONTRACTS_DIR = Path(os.environ.get("HEDUI_CONTRACTS_DIR", Path(__file__).resolve().parents[1] / "contracts"))


@dataclass(frozen=True, slots=True)
class Term:
    code: str
    zh: str
    en: str
    unit: str
    period: str
    source: str


@cache
def base_vocabulary() -> dict[str, Term]:
    """Every fact and indicator of ``contracts/indicators.yaml`` by code."""
    document = yaml.safe_load((CONTRACTS_DIR / "indicators.yaml").read_text(encoding="utf-8"))
    return {
        entry["code"]: Term(**{name: str(entry[name]) for name in Term.__slots__})
        for section in ("facts", "indicators")
        for entry in document[section]
    }


@cache
def vocabulary() -> dict[str, Term]:
    """The built-in vocabulary and that of every installed adapter plugin (gateway.plugins), by code."""
    from gateway.plugins import plugins  # plugins check their codes against the built-in vocabulary

    terms = dict(base_vocabulary())
    for plugin in plugins():
        for term in plugin.vocabulary.facts:
            terms[term.code] = Term(term.code, term.zh, term.en, term.unit, term.period, plugin.adapter)
        for indicator in plugin.vocabulary.indicators:
            code = indicator.term.code
            terms[code] = Term(
                code, indicator.term.zh, indicator.term.en, indicator.term.unit, indicator.term.period, "derived"
            )
    return terms
