"""Household composition and unified indicators from per-member agency facts (pure functions).

The arithmetic is documented in docs/indicators.md and in contracts/indicators.yaml; in short: income is
the 12-month average of wages, business income and pensions of living members; assets, properties and
vehicles count for every listed member (a deceased member's assets stay with the family); per-capita values
divide by the number of living members. Money is computed in ``Decimal`` and rounded half-up to fen
(四舍五入 to 0.01 yuan), the convention of Chinese financial statements.

An indicator whose source did not answer is ``None``: it is unknown, never zero, so a missing source can
never make a household look poorer than it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from adapters.base import Fact, FactValue, QueryMember, SourceResult
from gateway.plugins import plugin_indicator_values

IndicatorValue = int | float | None
_FEN = Decimal("0.01")
_MONTHLY_INCOME = ("income.wages", "income.business", "income.pension")

# Which adapters each indicator needs; if one of them did not answer, the indicator is unknown (None).
INDICATOR_SOURCES: Mapping[str, tuple[str, ...]] = {
    "household_size": ("civil_affairs",),
    "monthly_income_total": ("tax", "civil_affairs"),
    "monthly_income_per_capita": ("tax", "civil_affairs"),
    "financial_assets_total": ("banking",),
    "financial_assets_per_capita": ("banking", "civil_affairs"),
    "residential_properties": ("housing",),
    "residential_area_per_capita": ("housing", "civil_affairs"),
    "commercial_properties": ("housing",),
    "vehicles_count": ("hukou",),
    "vehicles_value": ("hukou",),
    "registered_businesses": ("tax",),
    "registered_capital_total": ("tax",),
    "deceased_members": ("civil_affairs",),
    "existing_enrollments": ("civil_affairs",),
    "medical_expenses_12m": ("tax",),
    "disabled_members": ("civil_affairs",),
    "hukou_count": ("hukou",),
    "provident_fund_total": ("housing",),
}


@dataclass(frozen=True, slots=True)
class MemberComposition:
    """One listed member as the household register and civil affairs see them."""

    index: int
    name: str
    relation: str
    registered: bool | None
    hukou_id: str | None
    hukou_region: str | None
    register_relation: str | None
    sex: str | None
    birth_date: str | None
    deceased: bool | None
    marital_status: str | None
    disability_grade: int | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class HouseholdFacts:
    composition: tuple[MemberComposition, ...]
    indicators: dict[str, IndicatorValue]
    enrollments: tuple[dict[str, Any], ...]


def _money(value: Decimal) -> float:
    return float(value.quantize(_FEN, rounding=ROUND_HALF_UP))


def _decimal(value: FactValue) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("a numeric fact was expected")
    return Decimal(str(value))


def _total(values: Iterable[FactValue]) -> Decimal:
    """The sum of numeric fact values, each taken as :func:`_decimal` takes it. Integers (most amounts, in
    whole yuan) are added as integers and the others as decimals; both sums are exact (no amount comes near
    Decimal's 28 digits), so the result is the one of adding every value as a Decimal, at a fraction of the
    cost (a household's 12 months of income are about a hundred facts)."""
    whole = 0
    rest = Decimal(0)
    for value in values:
        if type(value) is int:
            whole += value
        else:
            rest += _decimal(value)
    return rest + whole


def _facts_by_code(results: Iterable[SourceResult]) -> dict[str, list[Fact]]:
    grouped: dict[str, list[Fact]] = defaultdict(list)
    for result in results:
        for fact in result.facts:
            grouped[fact.code].append(fact)
    return grouped


def _member_value(facts: dict[str, list[Fact]], code: str, member: int) -> FactValue:
    return next((fact.value for fact in facts.get(code, ()) if fact.member == member), None)


def _distinct(facts: Iterable[Fact], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(fact.value[key]): fact.value for fact in facts if isinstance(fact.value, dict) and key in fact.value}


def compose_household(members: Sequence[QueryMember], results: Sequence[SourceResult], as_of: date) -> HouseholdFacts:
    """Composition and every indicator of ``contracts/indicators.yaml`` from the sources that answered.

    Monthly income counts only the 12 reference months of ``as_of`` (:func:`reference_months`).
    """
    answered = {result.adapter for result in results}
    facts = _facts_by_code(results)
    window = set(reference_months(as_of))
    composition = tuple(_compose_member(member, facts, answered) for member in members)

    living = [m.index for m in composition if m.deceased is not True]
    size = len(living)
    counted = set(living)
    income_total = _total(
        f.value for code in _MONTHLY_INCOME for f in facts.get(code, ()) if f.member in counted and f.period in window
    ) / Decimal(12)
    assets_total = _total(
        f.value
        for code in ("assets.deposits", "assets.securities", "assets.insurance_cash_value")
        for f in facts.get(code, ())
    )
    residential = _distinct(facts.get("property.residential", ()), "certificate")
    commercial = _distinct(facts.get("property.commercial", ()), "certificate")
    residential_area = _total(p["area_m2"] for p in residential.values())
    businesses = _distinct(facts.get("business.registered", ()), "credit_code")
    enrollments = tuple(
        dict(f.value, member=f.member) for f in facts.get("assistance.enrollment", ()) if isinstance(f.value, dict)
    )

    def per_capita(total: Decimal) -> float | None:
        return _money(total / size) if size else None

    def total_of(code: str) -> Decimal:
        return _total(f.value for f in facts.get(code, ()))

    values: dict[str, IndicatorValue] = {
        "household_size": size,
        "monthly_income_total": _money(income_total),
        "monthly_income_per_capita": per_capita(income_total),
        "financial_assets_total": _money(assets_total),
        "financial_assets_per_capita": per_capita(assets_total),
        "residential_properties": len(residential),
        "residential_area_per_capita": per_capita(residential_area),
        "commercial_properties": len(commercial),
        "vehicles_count": int(total_of("vehicle.count")),
        "vehicles_value": _money(total_of("vehicle.value")),
        "registered_businesses": len(businesses),
        "registered_capital_total": _money(_total(b["registered_capital"] for b in businesses.values())),
        "deceased_members": sum(1 for m in composition if m.deceased),
        "existing_enrollments": len(enrollments),
        "medical_expenses_12m": _money(total_of("expense.medical_12m")),
        "disabled_members": sum(1 for m in composition if m.disability_grade is not None),
        "hukou_count": len({m.hukou_id for m in composition if m.registered and m.hukou_id}),
        "provident_fund_total": _money(total_of("provident_fund.balance")),
    }
    for code, sources in INDICATOR_SOURCES.items():
        if not answered.issuperset(sources):
            values[code] = None
    values.update(plugin_indicator_values(facts, answered, living))  # categories of adapter plugins
    return HouseholdFacts(composition=composition, indicators=values, enrollments=enrollments)


def _compose_member(member: QueryMember, facts: dict[str, list[Fact]], answered: set[str]) -> MemberComposition:
    def text(code: str) -> str | None:
        value = _member_value(facts, code, member.index)
        return None if value is None else str(value)

    registered = _member_value(facts, "person.registered", member.index)
    deceased = _member_value(facts, "person.deceased", member.index)
    grade = _member_value(facts, "person.disability_grade", member.index)
    return MemberComposition(
        index=member.index,
        name=member.name,
        relation=member.relation,
        registered=bool(registered) if "hukou" in answered else None,
        hukou_id=text("person.hukou_id"),
        hukou_region=text("person.hukou_region"),
        register_relation=text("person.register_relation"),
        sex=text("person.sex"),
        birth_date=text("person.birth_date"),
        deceased=bool(deceased) if "civil_affairs" in answered else None,
        marital_status=text("person.marital_status"),
        disability_grade=int(grade) if isinstance(grade, int | float | str) and not isinstance(grade, bool) else None,
    )


def reference_months(as_of: date) -> list[str]:
    """The 12 calendar months before the month of ``as_of``, oldest first, as ``YYYY-MM``."""
    months = []
    year, month = as_of.year, as_of.month
    for _ in range(12):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        months.append(f"{year:04d}-{month:02d}")
    return months[::-1]
