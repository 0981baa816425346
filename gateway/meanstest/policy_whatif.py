"""What-if: a draft policy against the current one of the same id, over the synthetic population.

Each household of the policy's region is turned into the facts its agencies would report (``adapters.base.Fact``
per member, grouped by adapter) and run through ``compose_household``, the hub's one indicator arithmetic;
both policies then decide on the same inputs. What a civil affairs bureau wants to know before it raises its
standard: how many households each rule excludes, how recommendations move, and what the gap to the
standard of the eligible households adds up to (what dibao pays each month).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from adapters.base import Fact, Provenance, QueryMember, SourceResult
from adapters.testkit.population import Household, Person, Population
from gateway.meanstest.indicators import HouseholdFacts, compose_household, reference_months
from gateway.meanstest.policy import Decision, Policy, PolicyInputs, decide
from gateway.meanstest.policy_model import Text
from gateway.meanstest.report import data_flags

_ASSET_FACTS = {
    "deposit": "assets.deposits",
    "securities": "assets.securities",
    "insurance": "assets.insurance_cash_value",
}
_INCOME_FACTS = (("income.wages", "wages"), ("income.business", "business_income"), ("income.pension", "pension"))


def household_facts(household: Household, as_of: date) -> HouseholdFacts:
    """The household as the five agencies would report it, through the hub's indicator arithmetic."""
    members = tuple(
        QueryMember(index=index, id_number=person.id_number, name=person.name, relation=person.relation)
        for index, person in enumerate(household.members)
    )
    by_adapter: dict[str, list[Fact]] = {"hukou": [], "civil_affairs": [], "tax": [], "housing": [], "banking": []}
    months = reference_months(as_of)
    for index, person in enumerate(household.members):
        by_adapter["hukou"] += _hukou_facts(index, person)
        by_adapter["civil_affairs"] += _civil_affairs_facts(index, person)
        by_adapter["tax"] += _tax_facts(index, person, months)
        by_adapter["housing"] += _housing_facts(index, person)
        by_adapter["banking"] += _banking_facts(index, person)
    results = [
        SourceResult(adapter=adapter, facts=tuple(facts), provenance=Provenance(agency=adapter, as_of=as_of))
        for adapter, facts in by_adapter.items()
    ]
    return compose_household(members, results, as_of)


def household_inputs(household: Household, as_of: date) -> PolicyInputs:
    """Indicators, flags and household variables of one household, as the hub would compute them."""
    facts = household_facts(household, as_of)
    return PolicyInputs.of(
        facts.indicators,
        data_flags(facts),
        members=[member.as_dict() for member in facts.composition],
        as_of=as_of,
    )


def _hukou_facts(index: int, person: Person) -> list[Fact]:
    return [
        Fact("person.registered", index, person.on_register),
        Fact("person.hukou_id", index, person.hukou_id),
        Fact("person.hukou_region", index, person.hukou_region),
        Fact("person.register_relation", index, person.relation),
        Fact("person.sex", index, person.sex),
        Fact("person.birth_date", index, person.birth_date.isoformat()),
        Fact("vehicle.count", index, len(person.vehicles)),
        Fact("vehicle.value", index, sum(vehicle.value for vehicle in person.vehicles)),
    ]


def _civil_affairs_facts(index: int, person: Person) -> list[Fact]:
    facts = [
        Fact("person.deceased", index, person.deceased),
        Fact("person.marital_status", index, person.marital_status),
    ]
    if person.death_date is not None:
        facts.append(Fact("person.death_date", index, person.death_date.isoformat()))
    if person.disability_grade is not None:
        facts.append(Fact("person.disability_grade", index, person.disability_grade))
    facts += [
        Fact(
            "assistance.enrollment",
            index,
            {
                "program": enrollment.program,
                "region": enrollment.region,
                "since": enrollment.since.isoformat(),
                "monthly_amount": enrollment.monthly_amount,
            },
        )
        for enrollment in person.enrollments
    ]
    return facts


def _tax_facts(index: int, person: Person, months: list[str]) -> list[Fact]:
    facts = [
        Fact(code, index, amount, period=month)
        for code, field in _INCOME_FACTS
        for month, amount in zip(months, getattr(person, field), strict=True)
    ]
    facts += [
        Fact(
            "business.registered",
            index,
            {
                "credit_code": business.credit_code,
                "name": business.name,
                "registered_capital": business.registered_capital,
            },
        )
        for business in person.businesses
    ]
    facts.append(Fact("expense.medical_12m", index, person.medical_expenses_12m))
    return facts


def _housing_facts(index: int, person: Person) -> list[Fact]:
    facts = [
        Fact(
            f"property.{holding.kind}",
            index,
            {"certificate": holding.certificate, "area_m2": holding.area_m2, "region": holding.region},
        )
        for holding in person.properties
    ]
    if person.provident_fund_balance:
        facts.append(Fact("provident_fund.balance", index, person.provident_fund_balance))
    return facts


def _banking_facts(index: int, person: Person) -> list[Fact]:
    totals: Counter[str] = Counter()
    for asset in person.assets:
        totals[_ASSET_FACTS[asset.kind]] += asset.amount
    return [Fact(code, index, totals[code]) for code in _ASSET_FACTS.values()]


# -- comparison --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleImpact:
    """Households a rule excludes under each policy (None: the policy has no such rule), and under the
    draft those it alone excludes (every other rule holds)."""

    rule: str
    description: Text
    current: int | None
    draft: int | None
    draft_only_reason: int


@dataclass(frozen=True, slots=True)
class WhatIf:
    current: Policy
    draft: Policy
    households: int
    rules: tuple[RuleImpact, ...]
    outcomes: Mapping[str, tuple[int, int]]  # recommendation -> (current, draft)
    changes: Mapping[tuple[str, str], int]  # (current, draft) recommendation -> households, changes only
    monthly_gap: tuple[float, float]  # sum over eligible households of (standard - income per capita) x size


def simulate(draft: Policy, current: Policy, population: Population) -> WhatIf:
    """Both policies over every household of the draft's region in ``population``."""
    households = [household for household in population.households if household.region == draft.region]
    decisions = [
        (decide(current, inputs), decide(draft, inputs), inputs)
        for inputs in (household_inputs(household, population.as_of) for household in households)
    ]
    rule_ids = list(dict.fromkeys([rule.id for rule in draft.rules] + [rule.id for rule in current.rules]))
    descriptions = {rule.id: rule.description for rule in (*current.rules, *draft.rules)}
    impacts = tuple(
        RuleImpact(
            rule=rule_id,
            description=descriptions[rule_id],
            current=_excluded(current, rule_id, (now for now, _, _ in decisions)),
            draft=_excluded(draft, rule_id, (then for _, then, _ in decisions)),
            draft_only_reason=sum(
                1 for _, then, _ in decisions if [rule.id for rule in then.rules if rule.passed is False] == [rule_id]
            ),
        )
        for rule_id in rule_ids
    )
    now_counts = Counter(now.recommendation for now, _, _ in decisions)
    then_counts = Counter(then.recommendation for _, then, _ in decisions)
    return WhatIf(
        current=current,
        draft=draft,
        households=len(decisions),
        rules=impacts,
        outcomes={
            recommendation: (now_counts[recommendation], then_counts[recommendation])
            for recommendation in ("eligible", "ineligible", "review")
        },
        changes=dict(
            Counter(
                (now.recommendation, then.recommendation)
                for now, then, _ in decisions
                if now.recommendation != then.recommendation
            )
        ),
        monthly_gap=(
            _gap(current, ((now, inputs) for now, _, inputs in decisions)),
            _gap(draft, ((then, inputs) for _, then, inputs in decisions)),
        ),
    )


def _excluded(policy: Policy, rule_id: str, decisions: Iterable[Decision]) -> int | None:
    if all(rule.id != rule_id for rule in policy.rules):
        return None
    return sum(1 for decision in decisions for rule in decision.rules if rule.id == rule_id and rule.passed is False)


def _gap(policy: Policy, decisions: Iterable[tuple[Decision, PolicyInputs]]) -> float:
    total = 0.0
    for decision, inputs in decisions:
        if decision.recommendation != "eligible":
            continue
        size = inputs.values.get("household_size")
        income = inputs.values.get("monthly_income_per_capita")
        if size is not None and income is not None:
            total += max(0.0, policy.standard - income) * size
    return round(total, 2)
