"""The parts of a means-test policy (contracts/policies/<region>/<program>.yaml) and the names its rules may use.

A rule's expressions are CEL (https://github.com/google/cel-spec) over four kinds of names: the indicators of
``contracts/indicators.yaml``, the household variables derived from the composition (:data:`HOUSEHOLD_VARIABLES`),
``standard`` (the region's standard, yuan per person per month) and the policy's own parameters and derived
values. Indicators counted in persons or items are CEL ``int``; money and areas, the standard and every
parameter are CEL ``double`` (CEL never mixes the two in arithmetic: write ``double(household_size)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Literal

import cel

from gateway.contracts import vocabulary
from gateway.meanstest.indicators import INDICATOR_SOURCES
from gateway.plugins import plugin_indicator_sources

Kind = Literal["int", "double"]
Action = Literal["review", "inform"]
Op = Literal["<", "<=", ">", ">=", "==", "!="]
Number = int | float

STANDARD = "standard"

# Agencies as staff know them, for explanations of missing data.
SOURCE_NAMES: Mapping[str, tuple[str, str]] = {
    "hukou": ("公安户籍", "household registration"),
    "civil_affairs": ("民政", "civil affairs"),
    "tax": ("税务", "tax"),
    "housing": ("住建/不动产", "housing"),
    "banking": ("银行/证券/保险", "banking"),
}
_INT_UNITS = frozenset({"persons", "count"})

# Raised by the hub when an agency answered with another person's record (issue 11 defect 7). A policy may
# describe it, but can never make it less than a review: the household's data is not about the household.
RECORD_MISMATCH_FLAG = "record_mismatch"
ALWAYS_REVIEW_FLAGS = frozenset({RECORD_MISMATCH_FLAG})


@dataclass(frozen=True, slots=True)
class Text:
    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True, slots=True)
class Variable:
    """A name a rule may use that the household supplies (an indicator or a household variable)."""

    name: str
    kind: Kind
    label: Text
    sources: tuple[str, ...]


# Household variables computed from the report's composition (household.members) and the reference date.
# 特困人员认定办法 (民发〔2021〕43号) counts as without work capacity: people aged 60 or over, minors under 16,
# and people with a severe (grade 1 or 2) disability; grade-specific distinctions by kind of disability are
# left to the staff who confirm.
HOUSEHOLD_VARIABLES: Mapping[str, Variable] = {
    "members_with_work_capacity": Variable(
        name="members_with_work_capacity",
        kind="int",
        label=Text("有劳动能力的成员数", "Members able to work"),
        sources=("hukou", "civil_affairs"),
    ),
}
WORKING_AGE = (16, 60)  # full years: from 16, under 60
SEVERE_DISABILITY_GRADES = frozenset({1, 2})


@cache
def input_variables() -> Mapping[str, Variable]:
    """Every indicator of contracts/indicators.yaml and every household variable, by name."""
    terms = vocabulary()
    variables = {
        code: Variable(
            name=code,
            kind="int" if terms[code].unit in _INT_UNITS else "double",
            label=Text(terms[code].zh, terms[code].en),
            sources=sources,
        )
        for code, sources in {**INDICATOR_SOURCES, **plugin_indicator_sources()}.items()
    }
    variables.update(HOUSEHOLD_VARIABLES)
    return variables


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled CEL expression and the identifiers it references (found statically)."""

    source: str
    program: cel.Program
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class Derived:
    """A named value computed before the rules, e.g. the assessed income after deductions."""

    id: str
    expr: Expression
    label: Text


@dataclass(frozen=True, slots=True)
class Rule:
    """``value op threshold`` must hold for the household to qualify."""

    id: str
    description: Text
    value: Expression
    op: Op
    threshold: Expression
    unit: str | None


@dataclass(frozen=True, slots=True)
class FlagTreatment:
    action: Action
    text: Text


@dataclass(frozen=True, slots=True)
class Policy:
    """One programme of one region, validated and compiled."""

    id: str
    version: str
    region: str
    program: str
    name: Text
    effective_from: date
    effective_until: date | None
    standard: float
    parameters: Mapping[str, float]
    derived: tuple[Derived, ...]
    rules: tuple[Rule, ...]
    flags: Mapping[str, FlagTreatment]
    incompatible_with: tuple[str, ...]
    confirm: tuple[Text, ...]
    source: str  # the file it was loaded from, for messages

    def in_effect_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day < self.effective_until)
