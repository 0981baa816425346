"""Policy files: the shipped ones, the JSON Schema, and every way `hedui policy check` refuses a bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.contracts import CONTRACTS_DIR
from gateway.errors import ConfigurationError
from gateway.meanstest.policy import load_policies, load_policy
from gateway.meanstest.policy_load import Problem

POLICIES = CONTRACTS_DIR / "policies"
DIBAO = POLICIES / "110101" / "dibao.yaml"
runner = CliRunner()


def document(source: Path = DIBAO) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    return loaded


def write(directory: Path, content: dict[str, Any] | str, place: str = "110101/dibao.yaml") -> Path:
    target = directory / place
    target.parent.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    target.write_text(text, encoding="utf-8")
    return target


def with_rule(rule_id: str, **changes: Any) -> dict[str, Any]:
    changed = document()
    for rule in changed["rules"]:
        if rule["id"] == rule_id:
            rule.update(changes)
    return changed


def problems_of(directory: Path) -> list[Problem]:
    with pytest.raises(ConfigurationError) as caught:
        load_policies(directory)
    problems: list[Problem] = caught.value.extensions["problems"]
    return problems


# -- what ships -------------------------------------------------------------------------------------------


def test_every_region_has_every_programme() -> None:
    policies = load_policies(POLICIES)
    assert {policy.id for policy in policies} == {
        f"{region}/{program}"
        for region in ("110101", "510502", "450902")
        for program in ("dibao", "marginal", "tekun", "rigid_expenditure")
    }
    standards = {policy.region: policy.standard for policy in policies if policy.program == "dibao"}
    assert standards == {"110101": 1450.0, "510502": 788.0, "450902": 870.0}
    for policy in policies:
        assert policy.standard == standards[policy.region], policy.id
        assert policy.flags["split_hukou"].action == "inform"
        assert {f for f, t in policy.flags.items() if t.action == "review"} >= {
            "deceased_member",
            "duplicate_enrollment",
        }


def test_the_schema_is_draft_2020_12_and_every_shipped_file_conforms() -> None:
    schema = json.loads((CONTRACTS_DIR / "policy.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(POLICIES.rglob("*.yaml")):
        validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**document(), "surprise": 1})


def test_check_accepts_the_shipped_policies() -> None:
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "12 policies valid" in result.output
    assert "ok  450902/rigid_expenditure" in result.output


# -- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "rule", "reason"),
    [
        ({"value": "assessed_income_per_capita <"}, "income.below_standard", "value: syntax error at 1:"),
        ({"value": "monthly_incme_per_capita"}, "income.below_standard", "value: unknown identifier 'monthly_incme"),
        (
            {"threshold": "standard * 24"},
            "assets.financial_per_capita",
            "threshold: type error: Unsupported operation: float * int",
        ),
        ({"value": "residential_properties > 1"}, "property.homes", "value: type error: evaluates to bool"),
        ({"value": "sqrt(vehicles_value)"}, "vehicles.value", "value: unknown function 'sqrt'"),
        ({"value": "vehicles_count / (vehicles_count - 1)"}, "vehicles.value", "fails on sample values"),
        ({"op": "=<"}, "property.homes", "schema: rules/2/op"),
    ],
)
def test_a_bad_rule_is_refused_naming_file_rule_and_reason(
    tmp_path: Path, changes: dict[str, Any], rule: str, reason: str
) -> None:
    path = write(tmp_path, with_rule(rule, **changes))
    [problem] = problems_of(tmp_path)
    assert (problem.file, problem.rule) == (str(path), rule)
    assert reason in problem.reason
    result = runner.invoke(app, ["policy", "check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{path}: rule {rule}: " in result.output
    assert reason in result.output


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id": "110101/marginal"}, "does not match the file's place (110101/dibao)"),
        ({"region": "110102"}, "is not <region>/<program>"),
        ({"effective_until": "2024-01-01"}, "effective_until must be after effective_from"),
        ({"effective_from": "2024-02-30"}, "schema: effective_from"),
        ({"parameters": {"household_size": 3}}, "parameter 'household_size' hides"),
        ({"incompatible_with": ["dibao"]}, "incompatible with itself"),
        ({"derived": [{"id": "standard", "expr": "1.0", "zh": "x", "en": "x"}]}, "hides another name"),
        ({"standard": {"amount": 0, "unit": "yuan/person/month"}}, "schema: standard/amount"),
        ({"flags": {"split_hukou": {"action": "ignore", "zh": "x", "en": "x"}}}, "schema: flags/split_hukou/action"),
    ],
)
def test_a_bad_policy_is_refused(tmp_path: Path, changes: dict[str, Any], reason: str) -> None:
    write(tmp_path, {**document(), **changes})
    assert any(reason in problem.reason for problem in problems_of(tmp_path)), problems_of(tmp_path)


def test_derived_values_may_use_only_earlier_ones(tmp_path: Path) -> None:
    changed = document(POLICIES / "450902" / "rigid_expenditure.yaml")
    changed["derived"].reverse()
    write(tmp_path, changed, "450902/rigid_expenditure.yaml")
    problems = problems_of(tmp_path)
    assert any(
        p.rule == "income_after_medical_per_capita" and "unknown identifier 'assessed_income_total'" in p.reason
        for p in problems
    )


def test_a_duplicate_rule_id_is_refused(tmp_path: Path) -> None:
    changed = document()
    changed["rules"].append(changed["rules"][0])
    write(tmp_path, changed)
    [problem] = problems_of(tmp_path)
    assert (problem.rule, problem.reason) == ("income.below_standard", "duplicate rule id")


def test_invalid_yaml_and_misplaced_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "id: [unclosed\n")
    write(tmp_path, document(), "dibao.yaml")
    reasons = sorted(problem.reason for problem in problems_of(tmp_path))
    assert reasons[0].startswith("a policy file belongs at <region>/<program>.yaml")
    assert reasons[1].startswith("not valid YAML")


def test_every_problem_of_every_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, with_rule("income.below_standard", value="monthly_incme"))
    changed = document(POLICIES / "510502" / "tekun.yaml")
    changed["rules"][0]["threshold"] = "standard +"
    changed["rules"][1]["value"] = "household_size * 1.5"
    write(tmp_path, changed, "510502/tekun.yaml")
    problems = problems_of(tmp_path)
    assert [(Path(p.file).parent.name, p.rule) for p in problems] == [
        ("110101", "income.below_standard"),
        ("510502", "household.no_work_capacity"),
        ("510502", "income.below_standard"),
    ]


def test_no_directory_or_no_policy_is_a_configuration_error(tmp_path: Path) -> None:
    assert "no policy files" in problems_of(tmp_path)[0].reason
    assert "no such directory" in problems_of(tmp_path / "missing")[0].reason
    result = runner.invoke(app, ["policy", "check", "--dir", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such directory" in result.output


def test_dates_may_be_written_unquoted(tmp_path: Path) -> None:
    text = DIBAO.read_text(encoding="utf-8").replace('effective_from: "2024-07-01"', "effective_from: 2024-07-01")
    assert "effective_from: 2024-07-01" in text
    policy = load_policy(write(tmp_path, text))
    assert policy.effective_from.isoformat() == "2024-07-01"


def test_a_bare_number_operand_keeps_its_cel_type(tmp_path: Path) -> None:
    # 1.5 is a double literal: comparing an int count with it is fine in CEL, multiplying it is not.
    policy = load_policy(write(tmp_path, with_rule("property.homes", threshold=1.5)))
    assert next(rule for rule in policy.rules if rule.id == "property.homes").threshold.source == "1.5"
    bad = with_rule("property.homes", value="residential_properties * 2.0")
    write(tmp_path, bad)
    assert "type error" in problems_of(tmp_path)[0].reason
