"""What-if: the synthetic population through the hub's indicator arithmetic, two policies compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from adapters.testkit.population import Population, generate
from gateway.cli import app
from gateway.contracts import CONTRACTS_DIR
from gateway.meanstest.policy import load_policy
from gateway.meanstest.policy_whatif import household_inputs, simulate

POLICIES = CONTRACTS_DIR / "policies"
runner = CliRunner()


@pytest.fixture(scope="module")
def people() -> Population:
    return generate(households=150)


def draft(tmp_path: Path, source: Path, **changes: Any) -> Path:
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    document.update(changes)
    target = tmp_path / "draft.yaml"
    target.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    "name", ["clearly_eligible", "income_above_standard", "deceased_on_register", "split_hukou", "enrolled_elsewhere"]
)
def test_households_become_the_indicators_the_hub_would_compute(people: Population, name: str) -> None:
    scenario = people.scenario(name)
    inputs = household_inputs(people.household(scenario.household_id), people.as_of)
    expected = scenario.expected["indicators"]
    assert {code: inputs.values[code] for code in expected} == pytest.approx(expected)
    assert set(scenario.expected["flags"]) - {"duplicate_enrollment"} <= set(inputs.flags)


def test_an_unchanged_policy_changes_nothing(people: Population) -> None:
    current = load_policy(POLICIES / "510502" / "dibao.yaml")
    result = simulate(current, current, people)
    assert result.households == sum(1 for household in people.households if household.region == "510502")
    assert result.changes == {}
    assert all(impact.current == impact.draft for impact in result.rules)
    assert sum(now for now, _ in result.outcomes.values()) == result.households
    assert result.monthly_gap[0] == result.monthly_gap[1] > 0


def test_raising_the_standard_only_adds_eligible_households(tmp_path: Path, people: Population) -> None:
    source = POLICIES / "510502" / "dibao.yaml"
    current = load_policy(source)
    raised = load_policy(
        draft(tmp_path, source, version="2026-07", standard={"amount": 1200, "unit": "yuan/person/month"})
    )
    result = simulate(raised, current, people)
    eligible_now, eligible_then = result.outcomes["eligible"]
    assert eligible_then > eligible_now
    assert set(result.changes) == {("ineligible", "eligible")}
    assert result.changes[("ineligible", "eligible")] == eligible_then - eligible_now
    income = next(impact for impact in result.rules if impact.rule == "income.below_standard")
    assert income.current is not None and income.draft is not None and income.draft < income.current
    assert result.monthly_gap[1] > result.monthly_gap[0]


def test_a_rule_of_one_policy_only(tmp_path: Path, people: Population) -> None:
    source = POLICIES / "450902" / "dibao.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    no_car = {
        "id": "vehicles.none",
        "description": {"zh": "无机动车", "en": "No motor vehicle"},
        "value": "vehicles_count",
        "op": "==",
        "threshold": 0,
    }
    stricter = load_policy(draft(tmp_path, source, rules=[*document["rules"], no_car]))
    result = simulate(stricter, load_policy(source), people)
    impact = next(impact for impact in result.rules if impact.rule == "vehicles.none")
    assert impact.current is None and impact.draft is not None and impact.draft > 0
    assert set(result.changes) <= {("eligible", "ineligible")}


def test_simulate_command_prints_the_comparison(tmp_path: Path) -> None:
    source = POLICIES / "110101" / "dibao.yaml"
    path = draft(tmp_path, source, version="2026-07", standard={"amount": 1800, "unit": "yuan/person/month"})
    result = runner.invoke(app, ["policy", "simulate", "--policy", str(path), "--population", "90"])
    assert result.exit_code == 0, result.output
    assert "110101/dibao: current 2024-07 (standard 1,450.00) vs draft 2026-07 (standard 1,800.00)" in result.output
    for title in ("Households excluded", "Recommendations", "income.below_standard", "gap to the standard"):
        assert title in result.output


def test_simulate_refuses_an_invalid_draft_or_one_without_a_current_policy(tmp_path: Path) -> None:
    source = POLICIES / "110101" / "dibao.yaml"
    broken = draft(tmp_path, source, derived=[{"id": "x", "expr": "1 +", "zh": "x", "en": "x"}])
    result = runner.invoke(app, ["policy", "simulate", "--policy", str(broken), "--population", "10"])
    assert result.exit_code == 1 and "derived value x: expr: syntax error" in result.output
    unknown = draft(tmp_path, source, id="110101/housing_subsidy", program="housing_subsidy")
    result = runner.invoke(app, ["policy", "simulate", "--policy", str(unknown), "--population", "10"])
    assert result.exit_code == 1 and "policy_not_found" in result.output
