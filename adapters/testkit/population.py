"""The synthetic population served by the simulated agencies.

Deterministic from a seed. Each household lives in one of the regions of ``REGIONS``; every person has a
valid GB 11643 identity number, a Chinese name, a relation to the household head and the facts each agency
holds about them. Named scenario households (``contracts``-style data in ``scenarios.yaml`` beside this file)
come with their expected indicators, recommendation and flags.

Amounts are whole yuan. Monthly series hold 12 values, oldest month first, for the 12 calendar months
before ``Population.as_of``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

REGIONS: Mapping[str, str] = {
    "110101": "北京市东城区",
    "510502": "泸州市江阳区",
    "450902": "玉林市玉州区",
}

Relation = Literal["self", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"]


@dataclass(frozen=True, slots=True)
class FinancialAsset:
    institution: str  # bank / broker / insurer code, e.g. "ICBC"
    kind: Literal["deposit", "securities", "insurance"]
    account_ref: str
    amount: int


@dataclass(frozen=True, slots=True)
class Property:
    certificate: str  # real-estate certificate number (不动产权证号)
    kind: Literal["residential", "commercial"]
    area_m2: float
    region: str


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str
    value: int


@dataclass(frozen=True, slots=True)
class Business:
    credit_code: str  # GB 32100 unified social credit code
    name: str
    registered_capital: int


@dataclass(frozen=True, slots=True)
class Enrollment:
    program: str  # dibao | marginal | tekun | rigid_expenditure
    region: str
    since: date
    monthly_amount: int


@dataclass(frozen=True, slots=True)
class Person:
    id_number: str
    name: str
    sex: Literal["M", "F"]
    birth_date: date
    relation: Relation
    hukou_id: str  # 户号, the household register this person is on
    hukou_region: str
    on_register: bool = True
    death_date: date | None = None
    marital_status: Literal["single", "married", "divorced", "widowed"] = "single"
    disability_grade: int | None = None
    wages: tuple[int, ...] = (0,) * 12
    business_income: tuple[int, ...] = (0,) * 12
    pension: tuple[int, ...] = (0,) * 12
    medical_expenses_12m: int = 0
    assets: tuple[FinancialAsset, ...] = ()
    properties: tuple[Property, ...] = ()
    provident_fund_balance: int = 0
    vehicles: tuple[Vehicle, ...] = ()
    businesses: tuple[Business, ...] = ()
    enrollments: tuple[Enrollment, ...] = ()

    def __repr__(self) -> str:  # keep identity numbers and names out of logs and assertion output
        return f"Person(relation={self.relation!r}, hukou_region={self.hukou_region!r})"

    @property
    def deceased(self) -> bool:
        return self.death_date is not None


@dataclass(frozen=True, slots=True)
class Household:
    household_id: str
    region: str
    members: tuple[Person, ...]
    scenario: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    region: str
    purpose: str
    household_id: str
    expected: Mapping[str, Any]  # {"indicators": {...}, "recommendation": "...", "flags": [...]}


@dataclass(frozen=True)
class Population:
    seed: int
    as_of: date
    households: tuple[Household, ...]
    scenarios: tuple[Scenario, ...]
    _by_id_number: dict[str, Person] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls, seed: int, as_of: date, households: tuple[Household, ...], scenarios: tuple[Scenario, ...] = ()
    ) -> Population:
        """Build a population and its identity-number index."""
        index = {person.id_number: person for household in households for person in household.members}
        return cls(seed=seed, as_of=as_of, households=households, scenarios=scenarios, _by_id_number=index)

    def person(self, id_number: str) -> Person | None:
        """The person with this identity number, or None (agencies answer "no record")."""
        return self._by_id_number.get(id_number)

    def household(self, household_id: str) -> Household:
        return next(h for h in self.households if h.household_id == household_id)

    def scenario(self, name: str) -> Scenario:
        return next(s for s in self.scenarios if s.name == name)
