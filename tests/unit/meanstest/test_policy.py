"""The decision of a policy: rule results, explanations, recommendation, inputs and the policy set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.testkit.population import Person, Population, generate
from gateway.contracts import CONTRACTS_DIR
from gateway.errors import ConfigurationError, InvalidInput, PolicyNotFound
from gateway.meanstest.matching import match_programs
from gateway.meanstest.policy import (
    Policy,
    PolicyInputs,
    PolicySet,
    decide,
    household_variables,
    load_policies,
    load_policy,
)
from gateway.meanstest.policy_model import FlagTreatment, Text

POLICIES = CONTRACTS_DIR / "policies"
AS_OF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policies(POLICIES)


@pytest.fixture(scope="module")
def people() -> Population:
    return generate(households=1)


def composition(members: tuple[Person, ...]) -> list[dict[str, Any]]:
    """A report's household.members entries, as the hub composes them from the agencies' answers."""
    return [
        {"deceased": p.deceased, "birth_date": p.birth_date.isoformat(), "disability_grade": p.disability_grade}
        for p in members
    ]


def indicators(**changes: Any) -> dict[str, Any]:
    """A household of three in Beijing that meets every dibao rule (clearly_eligible's numbers)."""
    values: dict[str, Any] = {
        "household_size": 3,
        "monthly_income_total": 3000.0,
        "monthly_income_per_capita": 1000.0,
        "financial_assets_total": 18000.0,
        "financial_assets_per_capita": 6000.0,
        "residential_properties": 1,
        "residential_area_per_capita": 18.2,
        "commercial_properties": 0,
        "vehicles_count": 0,
        "vehicles_value": 0.0,
        "registered_businesses": 0,
        "registered_capital_total": 0.0,
        "deceased_members": 0,
        "existing_enrollments": 0,
        "medical_expenses_12m": 4800.0,
        "disabled_members": 1,
        "hukou_count": 1,
        "provident_fund_total": 0.0,
    }
    values.update(changes)
    return values


def write_policy(directory: Path, source: Path, change: Mapping[str, Any] | None = None) -> Path:
    """A copy of a policy file under ``directory`` (same <region>/<program>.yaml place), top-level keys changed."""
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    document.update(change or {})
    target = directory / source.parent.name / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


# -- the scenarios ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "clearly_eligible",
        "income_above_standard",
        "assets_above_limit",
        "two_homes",
        "car_above_exemption",
        "deceased_on_register",
        "enrolled_elsewhere",
        "marginal",
        "rigid_expenditure",
        "split_hukou",
        "no_consent",
    ],
)
def test_every_scenario_gets_its_expected_recommendation_and_programmes(
    policies: PolicySet, people: Population, name: str
) -> None:
    scenario = people.scenario(name)
    expected = scenario.expected
    members = composition(people.household(scenario.household_id).members)
    inputs = PolicyInputs.of(expected["indicators"], expected["flags"], members=members, as_of=people.as_of)
    decision = decide(policies.for_purpose(scenario.region, scenario.purpose, people.as_of), inputs)
    assert decision.recommendation == expected["recommendation"]
    assert match_programs(policies, scenario.region, inputs, people.as_of).programs == expected["programs"]
    # Without the composition only the household variables are unknown: dibao needs none of them.
    without = PolicyInputs.of(expected["indicators"], expected["flags"])
    assert decide(decision.policy, without).recommendation == expected["recommendation"]


# -- one decision -----------------------------------------------------------------------------------------


def test_eligible_household_has_every_rule_with_value_threshold_and_explanation(policies: PolicySet) -> None:
    decision = decide(policies.get("110101/dibao"), PolicyInputs.of(indicators()))
    assert decision.recommendation == "eligible"
    fields = decision.report_fields()
    assert fields["policy"] == {"id": "110101/dibao", "version": "2024-07"}
    assert set(fields["decision"]) == {"recommendation", "rules", "reasons"}
    rules = {rule["id"]: rule for rule in fields["decision"]["rules"]}
    assert set(rules) == {
        "income.below_standard",
        "assets.financial_per_capita",
        "property.homes",
        "property.commercial",
        "vehicles.value",
        "business.registered_capital",
    }
    income = rules["income.below_standard"]
    assert (income["passed"], income["value"], income["threshold"]) == (True, 1000.0, 1450.0)
    assert income["explanation"]["zh"] == "家庭月人均收入低于低保标准：1,000.00 元 < 1,450.00 元，符合。"
    assert "1,000.00 yuan < 1,450.00 yuan, met" in income["explanation"]["en"]
    assert rules["assets.financial_per_capita"]["threshold"] == 24 * 1450
    assert (rules["property.homes"]["value"], rules["property.homes"]["threshold"]) == (1, 1)
    summary = fields["decision"]["reasons"][0]
    assert summary["code"] == "eligible"
    assert "须经工作人员审核确认" in summary["zh"] and "staff must confirm" in summary["en"]
    assert fields["decision"]["reasons"][-1]["code"] == "confirm"


def test_a_failed_rule_makes_the_household_ineligible_and_says_why(policies: PolicySet) -> None:
    decision = decide(policies.get("110101/dibao"), PolicyInputs.of(indicators(residential_properties=2)))
    assert decision.recommendation == "ineligible"
    failed = [rule for rule in decision.rules if rule.passed is False]
    assert [rule.id for rule in failed] == ["property.homes"]
    assert failed[0].explanation.zh == "家庭住房不超过一套：2 > 1，不符合。"
    assert [(r.code, r.subject) for r in decision.reasons[:2]] == [
        ("ineligible", None),
        ("rule_failed", "property.homes"),
    ]


def test_a_missing_source_gives_review_never_eligible(policies: PolicySet) -> None:
    missing_tax = indicators(monthly_income_total=None, monthly_income_per_capita=None, registered_capital_total=None)
    decision = decide(policies.get("110101/dibao"), PolicyInputs.of(missing_tax))
    assert decision.recommendation == "review"
    undecided = {rule.id: rule for rule in decision.rules if rule.passed is None}
    assert set(undecided) == {"income.below_standard", "business.registered_capital"}
    income = undecided["income.below_standard"]
    assert income.value is None and income.threshold == 1450.0
    assert "税务" in income.explanation.zh and "须人工核实" in income.explanation.zh
    assert "tax" in income.explanation.en
    # A failing rule does not turn a household with unknown data into a rejection either.
    also_failing = decide(policies.get("110101/dibao"), PolicyInputs.of({**missing_tax, "commercial_properties": 1}))
    assert also_failing.recommendation == "review"
    assert {r.code for r in also_failing.reasons} >= {"rule_failed", "rule_undecided"}


def test_an_indicator_left_out_is_unknown(policies: PolicySet) -> None:
    values = indicators()
    del values["vehicles_value"]
    decision = decide(policies.get("110101/dibao"), PolicyInputs.of(values))
    assert decision.recommendation == "review"
    assert [rule.id for rule in decision.rules if rule.passed is None] == ["vehicles.value"]


@pytest.mark.parametrize(
    ("flags", "recommendation", "codes"),
    [
        (["split_hukou"], "eligible", ["flag"]),
        (["deceased_member"], "review", ["review_flag"]),
        (["duplicate_enrollment", "split_hukou"], "review", ["review_flag", "flag"]),
        (["unregistered_member"], "review", ["review_flag"]),
        (["flag_from_a_newer_hub"], "review", ["unknown_flag"]),
    ],
)
def test_flags_are_treated_as_the_policy_says(
    policies: PolicySet, flags: list[str], recommendation: str, codes: list[str]
) -> None:
    decision = decide(policies.get("110101/dibao"), PolicyInputs.of(indicators(), flags))
    assert decision.recommendation == recommendation
    assert [reason.code for reason in decision.reasons if reason.subject in flags] == codes


def test_review_flags_also_override_a_failing_rule(policies: PolicySet) -> None:
    decision = decide(
        policies.get("110101/dibao"), PolicyInputs.of(indicators(commercial_properties=1), ["deceased_member"])
    )
    assert decision.recommendation == "review"
    assert "标记 deceased_member" in decision.reasons[0].text.zh


def test_a_rule_that_cannot_be_evaluated_gives_review(policies: PolicySet) -> None:
    # Everyone listed is dead: household_size 0, so income after medical spending per person is undefined.
    rigid = policies.get("450902/rigid_expenditure")
    values = indicators(household_size=0, monthly_income_total=4500.0, monthly_income_per_capita=1500.0)
    decision = decide(rigid, PolicyInputs.of(values))
    assert decision.recommendation == "review"
    rule = next(rule for rule in decision.rules if rule.id == "expenditure.income_after_medical")
    assert rule.passed is None
    assert "无法计算" in rule.explanation.zh and "cannot be evaluated" in rule.explanation.en


def test_integer_division_by_zero_is_an_undecided_rule(tmp_path: Path) -> None:
    source = POLICIES / "110101" / "dibao.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    document["rules"].append(
        {
            "id": "vehicles.per_member",
            "description": {"zh": "人均车辆", "en": "Vehicles per member"},
            "value": "vehicles_count / household_size",
            "op": "<=",
            "threshold": 1,
        }
    )
    policy = load_policy(write_policy(tmp_path, source, {"rules": document["rules"]}))
    decision = decide(policy, PolicyInputs.of(indicators(household_size=0)))
    assert decision.recommendation == "review"
    assert "ZeroDivisionError" in decision.rules[-1].explanation.en


def test_income_deductions_are_policy_parameters(tmp_path: Path, people: Population) -> None:
    """An employment-cost deduction of a quarter of income turns Luzhou's marginal household (1,000 a head,
    above the 788 standard) into a dibao case: 750 < 788."""
    source = POLICIES / "510502" / "dibao.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    deducting = load_policy(
        write_policy(tmp_path, source, {"parameters": {**document["parameters"], "employment_cost_share": 0.25}})
    )
    marginal = PolicyInputs.of(people.scenario("marginal").expected["indicators"])
    assert decide(load_policy(source), marginal).recommendation == "ineligible"
    decision = decide(deducting, marginal)
    assert decision.recommendation == "eligible"
    assert decision.rules[0].value == 750.0


def test_values_are_shown_to_the_fen_but_compared_unrounded(policies: PolicySet) -> None:
    decision = decide(policies.get("110101/dibao"), PolicyInputs.of(indicators(monthly_income_per_capita=1449.996)))
    income = decision.rules[0]
    assert (income.passed, income.value) == (True, 1450.0)


# -- inputs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"monthly_income_secret": 1.0}, "unknown indicator"),
        ({"household_size": True}, "finite number"),
        ({"household_size": "3"}, "finite number"),
        ({"household_size": 2.5}, "whole number"),
        ({"monthly_income_total": float("nan")}, "finite number"),
    ],
)
def test_inputs_are_validated(values: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PolicyInputs.of(values)


def test_inputs_are_typed_for_cel() -> None:
    inputs = PolicyInputs.of({"household_size": 3.0, "monthly_income_total": 3000})
    assert inputs.values == {"household_size": 3, "monthly_income_total": 3000.0}
    assert isinstance(inputs.values["household_size"], int)
    assert isinstance(inputs.values["monthly_income_total"], float)
    assert "members_with_work_capacity" in inputs.unknown


def test_members_need_the_reference_date() -> None:
    with pytest.raises(InvalidInput, match="reference date"):
        PolicyInputs.of({}, members=[{"deceased": False, "birth_date": "1970-01-01"}])


def member(birth: str, *, deceased: bool | None = False, grade: int | None = None) -> dict[str, Any]:
    return {"deceased": deceased, "birth_date": birth, "disability_grade": grade}


@pytest.mark.parametrize(
    ("members", "able"),
    [
        ([member("2010-10-31")], 1),  # 16 today
        ([member("2010-11-01")], 0),  # 15
        ([member("1966-11-01")], 1),  # 59
        ([member("1966-10-31")], 0),  # 60 today
        ([member("1980-01-01", grade=2)], 0),
        ([member("1980-01-01", grade=3)], 1),
        ([member("1980-01-01", deceased=True), member("1950-01-01")], 0),
        ([member("1980-01-01"), member("1985-01-01"), member("2015-01-01")], 2),
        ([member("1950-01-01"), member("1980-01-01", deceased=None)], None),  # civil affairs did not answer
    ],
)
def test_work_capacity_follows_the_tekun_rules(members: list[dict[str, Any]], able: int | None) -> None:
    assert household_variables(members, AS_OF) == {"members_with_work_capacity": able}


def test_a_living_member_without_birth_date_leaves_work_capacity_unknown() -> None:
    assert household_variables([{"deceased": False, "birth_date": None}], AS_OF) == {"members_with_work_capacity": None}
    with pytest.raises(InvalidInput):
        household_variables([member("31.12.1970")], AS_OF)


# -- the policy set ---------------------------------------------------------------------------------------


def test_a_purpose_selects_the_programme_of_the_region(policies: PolicySet) -> None:
    assert policies.for_purpose("110101", "dibao.application", AS_OF).id == "110101/dibao"
    assert policies.for_purpose("510502", "dibao.review", AS_OF).id == "510502/dibao"
    assert policies.for_purpose("450902", "tekun.application", AS_OF).id == "450902/tekun"
    with pytest.raises(PolicyNotFound):
        policies.for_purpose("110101", "temporary_assistance.application", AS_OF)
    with pytest.raises(PolicyNotFound):
        policies.for_purpose("110102", "dibao.application", AS_OF)
    with pytest.raises(PolicyNotFound):
        policies.get("110101/nothing")


def test_effective_dates_bound_a_policy(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        POLICIES / "110101" / "dibao.yaml",
        {"version": "2026-07", "effective_from": "2026-07-01", "effective_until": "2027-07-01"},
    )
    policies = load_policies(tmp_path)
    assert len(policies) == 1 and path.exists()
    assert policies.for_purpose("110101", "dibao.application", date(2026, 7, 1)).version == "2026-07"
    for outside in (date(2026, 6, 30), date(2027, 7, 1)):
        with pytest.raises(PolicyNotFound):
            policies.for_purpose("110101", "dibao.application", outside)
    assert policies.in_effect("110101", date(2026, 6, 30)) == ()


def test_two_policies_with_one_id_are_refused(policies: PolicySet) -> None:
    dibao: Policy = policies.get("110101/dibao")
    with pytest.raises(ConfigurationError, match="two policies"):
        PolicySet([dibao, dibao])


def test_record_mismatch_is_a_review_whatever_the_policy_says(policies: PolicySet) -> None:
    """Issue 11 defect 7: a household whose data came partly from another person is never eligible, even
    under a policy that would only note the flag."""
    dibao = policies.get("110101/dibao")
    assert decide(dibao, PolicyInputs.of(indicators(), [])).recommendation == "eligible"
    assert decide(dibao, PolicyInputs.of(indicators(), ["record_mismatch"])).recommendation == "review"
    lenient = replace(
        dibao, flags={**dibao.flags, "record_mismatch": FlagTreatment("inform", Text("仅提示", "note only"))}
    )
    decision = decide(lenient, PolicyInputs.of(indicators(), ["record_mismatch"]))
    assert decision.recommendation == "review"
    assert [reason.code for reason in decision.reasons if reason.subject == "record_mismatch"] == ["review_flag"]
