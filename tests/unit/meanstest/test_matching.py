"""Programme matching: one household against every programme of its region."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapters.testkit.population import Population, generate
from gateway.contracts import CONTRACTS_DIR
from gateway.errors import PolicyNotFound
from gateway.meanstest.matching import match_programs
from gateway.meanstest.policy import PolicyInputs, PolicySet, load_policies

AS_OF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def policies() -> PolicySet:
    return load_policies(CONTRACTS_DIR / "policies")


@pytest.fixture(scope="module")
def people() -> Population:
    return generate(households=1)


def scenario_inputs(people: Population, name: str, *, with_members: bool = True) -> PolicyInputs:
    scenario = people.scenario(name)
    members = [
        {"deceased": p.deceased, "birth_date": p.birth_date.isoformat(), "disability_grade": p.disability_grade}
        for p in people.household(scenario.household_id).members
    ]
    return PolicyInputs.of(
        scenario.expected["indicators"], members=members if with_members else None, as_of=people.as_of
    )


def outcomes(match: Any) -> dict[str, str]:
    return {result.policy.program: result.outcome for result in match.results}


def test_marginal_household_is_not_dibao_but_marginal(policies: PolicySet, people: Population) -> None:
    match = match_programs(policies, "510502", scenario_inputs(people, "marginal"), people.as_of)
    assert match.programs == ["marginal"]
    assert outcomes(match) == {
        "dibao": "does_not_qualify",
        "marginal": "qualifies",
        "rigid_expenditure": "does_not_qualify",
        "tekun": "does_not_qualify",
    }
    dibao = next(result for result in match.results if result.policy.program == "dibao")
    assert [reason.zh for reason in dibao.reasons] == ["家庭月人均收入低于低保标准：1,000.00 元 ≥ 788.00 元，不符合。"]
    tekun = next(result for result in match.results if result.policy.program == "tekun")
    assert tekun.reasons[0].zh == "家庭成员均无劳动能力（60周岁以上、未满16周岁或一二级残疾）：3 人 ≠ 0 人，不符合。"
    assert match.summary.zh.startswith("符合：低保边缘家庭认定；不符合：最低生活保障")
    assert "须经工作人员审核确认" in match.summary.zh


def test_rigid_expenditure_case(policies: PolicySet, people: Population) -> None:
    match = match_programs(policies, "450902", scenario_inputs(people, "rigid_expenditure"), people.as_of)
    assert match.programs == ["rigid_expenditure"]
    rigid = next(result for result in match.results if result.policy.program == "rigid_expenditure")
    after = next(rule for rule in rigid.rules if rule.id == "expenditure.income_after_medical")
    assert (after.passed, after.value, after.threshold) == (True, -166.67, 870.0)  # (54,000 - 60,000) / 12 / 3


def test_elderly_person_alone_qualifies_for_tekun_and_dibao_which_exclude_each_other(policies: PolicySet) -> None:
    values = {
        "household_size": 1,
        "monthly_income_total": 600.0,
        "monthly_income_per_capita": 600.0,
        "financial_assets_per_capita": 3000.0,
        "residential_properties": 1,
        "commercial_properties": 0,
        "vehicles_value": 0.0,
        "registered_capital_total": 0.0,
        "medical_expenses_12m": 500.0,
    }
    members = [{"deceased": False, "birth_date": "1948-03-01", "disability_grade": None}]
    match = match_programs(policies, "110101", PolicyInputs.of(values, members=members, as_of=AS_OF), AS_OF)
    assert match.programs == ["dibao", "tekun"]
    assert "最低生活保障与特困人员救助供养不可同时享受" in match.summary.zh
    assert "cannot be received together" in match.summary.en
    # The same person at 45 has work capacity: dibao only.
    younger = [{"deceased": False, "birth_date": "1981-03-01", "disability_grade": None}]
    assert match_programs(
        policies, "110101", PolicyInputs.of(values, members=younger, as_of=AS_OF), AS_OF
    ).programs == ["dibao"]


def test_without_the_composition_tekun_is_undetermined(policies: PolicySet, people: Population) -> None:
    match = match_programs(
        policies, "110101", scenario_inputs(people, "clearly_eligible", with_members=False), people.as_of
    )
    assert match.programs == ["dibao"]
    assert outcomes(match)["tekun"] == "undetermined"
    assert "数据不全无法判断：特困人员救助供养" in match.summary.zh


def test_a_missing_source_leaves_programmes_undetermined_unless_a_rule_fails(
    policies: PolicySet, people: Population
) -> None:
    values = dict(people.scenario("clearly_eligible").expected["indicators"])
    values.update(monthly_income_total=None, monthly_income_per_capita=None)  # tax did not answer
    match = match_programs(policies, "110101", PolicyInputs.of(values), AS_OF)
    assert match.programs == []
    assert outcomes(match) == {
        "dibao": "undetermined",
        "marginal": "undetermined",
        "rigid_expenditure": "undetermined",
        "tekun": "undetermined",
    }
    values.update(residential_properties=2)
    assert set(outcomes(match_programs(policies, "110101", PolicyInputs.of(values), AS_OF)).values()) == {
        "does_not_qualify"
    }


def test_flags_do_not_remove_programmes(policies: PolicySet, people: Population) -> None:
    scenario = people.scenario("deceased_on_register")
    inputs = PolicyInputs.of(scenario.expected["indicators"], ["deceased_member", "duplicate_enrollment"])
    assert match_programs(policies, "110101", inputs, AS_OF).programs == ["dibao"]


def test_a_household_matching_nothing(policies: PolicySet, people: Population) -> None:
    match = match_programs(policies, "110101", scenario_inputs(people, "income_above_standard"), people.as_of)
    assert match.programs == []
    assert match.summary.zh.startswith("不符合任何救助项目的核对条件")
    assert match.summary.en.startswith("Qualifies for no programme")


def test_answer_body(policies: PolicySet, people: Population) -> None:
    body = match_programs(policies, "510502", scenario_inputs(people, "marginal"), people.as_of).as_dict()
    assert set(body) == {"region", "as_of", "programs", "results", "summary"}
    assert body["as_of"] == people.as_of.isoformat()
    first = body["results"][0]
    assert set(first) == {"program", "name", "policy", "outcome", "rules", "reasons"}
    assert first["policy"] == {"id": "510502/dibao", "version": "2024-07"}
    assert set(first["rules"][0]) == {"id", "passed", "value", "threshold", "explanation"}


def test_a_region_without_programmes(policies: PolicySet) -> None:
    with pytest.raises(PolicyNotFound):
        match_programs(policies, "110102", PolicyInputs.of({}), AS_OF)
    with pytest.raises(PolicyNotFound):
        match_programs(policies, "110101", PolicyInputs.of({}), date(2024, 6, 30))
