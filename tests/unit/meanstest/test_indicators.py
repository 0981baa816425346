from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import Fact, Provenance, QueryMember, SourceResult
from gateway.meanstest.indicators import INDICATOR_SOURCES, _total, compose_household, reference_months

AS_OF = date(2026, 11, 22)
MONTHS = reference_months(AS_OF)
MEMBERS = (
    QueryMember(0, "11010519491231002X", "王芳", "self"),
    QueryMember(1, "110101198001010011", "李强", "spouse"),
    QueryMember(2, "110101201001010022", "李小明", "child"),
)


def result(adapter: str, *facts: Fact) -> SourceResult:
    return SourceResult(adapter, facts, Provenance(adapter, AS_OF))


def monthly(code: str, member: int, amount: int) -> list[Fact]:
    return [Fact(code, member, amount, period=month) for month in MONTHS]


def sources() -> list[SourceResult]:
    return [
        result(
            "hukou",
            *(Fact("person.registered", i, True) for i in range(3)),
            Fact("person.hukou_id", 0, "110101000000001"),
            Fact("person.hukou_id", 1, "110101000000001"),
            Fact("person.hukou_id", 2, "110101000000002"),
            Fact("vehicle.count", 1, 1),
            Fact("vehicle.value", 1, 30000),
        ),
        result(
            "civil_affairs",
            Fact("person.deceased", 0, False),
            Fact("person.deceased", 1, True),
            Fact("person.deceased", 2, False),
            Fact("person.disability_grade", 2, 2),
            Fact("assistance.enrollment", 0, {"program": "dibao", "region": "510502", "since": "2025-01-01"}),
        ),
        result(
            "tax",
            *monthly("income.wages", 0, 2000),
            *monthly("income.pension", 0, 1000),
            *monthly("income.wages", 1, 5000),  # deceased: his income does not count
            Fact("income.wages", 0, 99999, period="2024-01"),  # outside the window
            Fact("business.registered", 0, {"credit_code": "91330100716105852F", "registered_capital": 50000}),
            Fact("business.registered", 1, {"credit_code": "91330100716105852F", "registered_capital": 50000}),
            Fact("expense.medical_12m", 2, 12345.5),
        ),
        result(
            "housing",
            Fact("property.residential", 0, {"certificate": "A1", "area_m2": 60.5, "region": "110101"}),
            Fact("property.residential", 1, {"certificate": "A1", "area_m2": 60.5, "region": "110101"}),
            Fact("property.commercial", 1, {"certificate": "C9", "area_m2": 20, "region": "110101"}),
            Fact("provident_fund.balance", 0, 1000),
        ),
        result(
            "banking",
            Fact("assets.deposits", 0, 10000),
            Fact("assets.securities", 1, 5000.01),
            Fact("assets.insurance_cash_value", 2, 0.02),
        ),
    ]


def test_reference_months_are_the_twelve_before_the_current_month() -> None:
    assert MONTHS[0] == "2025-11" and MONTHS[-1] == "2026-10" and len(MONTHS) == 12
    assert reference_months(date(2026, 1, 5))[-1] == "2025-12"


def test_indicators_follow_the_documented_arithmetic() -> None:
    household = compose_household(MEMBERS, sources(), AS_OF)
    values = household.indicators
    assert values["household_size"] == 2
    assert values["monthly_income_total"] == 3000.00
    assert values["monthly_income_per_capita"] == 1500.00
    assert values["financial_assets_total"] == 15000.03
    assert values["financial_assets_per_capita"] == 7500.02  # 7500.015 rounds half up
    assert values["residential_properties"] == 1, "a jointly owned home counts once"
    assert values["residential_area_per_capita"] == 30.25
    assert values["commercial_properties"] == 1
    assert (values["vehicles_count"], values["vehicles_value"]) == (1, 30000.0)
    assert (values["registered_businesses"], values["registered_capital_total"]) == (1, 50000.0)
    assert values["deceased_members"] == 1
    assert values["existing_enrollments"] == 1
    assert values["medical_expenses_12m"] == 12345.5
    assert values["disabled_members"] == 1
    assert values["hukou_count"] == 2
    assert values["provident_fund_total"] == 1000.0
    assert set(values) == set(INDICATOR_SOURCES)


def test_composition_merges_register_and_civil_affairs() -> None:
    composition = compose_household(MEMBERS, sources(), AS_OF).composition
    assert [m.deceased for m in composition] == [False, True, False]
    assert composition[2].disability_grade == 2
    assert composition[0].hukou_id == "110101000000001"


def test_missing_source_makes_its_indicators_unknown_not_zero() -> None:
    without_banking = [r for r in sources() if r.adapter != "banking"]
    values = compose_household(MEMBERS, without_banking, AS_OF).indicators
    assert values["financial_assets_total"] is None
    assert values["financial_assets_per_capita"] is None
    assert values["monthly_income_total"] == 3000.00

    without_civil = [r for r in sources() if r.adapter != "civil_affairs"]
    household = compose_household(MEMBERS, without_civil, AS_OF)
    assert household.indicators["household_size"] is None
    assert household.indicators["monthly_income_per_capita"] is None
    assert all(m.deceased is None for m in household.composition)


# Amounts as agencies send them: whole yuan, yuan and fen as numbers or as text.
AMOUNTS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(min_value=-(10**9), max_value=10**9, places=2).map(float),
    st.decimals(min_value=-(10**9), max_value=10**9, places=2).map(str),
)


@settings(max_examples=300, derandomize=True)
@given(st.lists(AMOUNTS, max_size=40))
def test_totals_equal_the_sum_of_every_amount_as_a_decimal(amounts: list[int | float | str]) -> None:
    expected = sum((Decimal(str(amount)) for amount in amounts), Decimal(0))
    assert _total(amounts) == expected


def test_totals_refuse_what_is_not_a_number() -> None:
    with pytest.raises(TypeError):
        _total([1, True])
    with pytest.raises(TypeError):
        _total([1, None])
