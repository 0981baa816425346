"""Adapter plugins that bring their own category: declarations checked, merged, derived (gateway/plugins.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import Fact
from gateway.auth import PurposeCatalog
from gateway.contracts import CONTRACTS_DIR, base_vocabulary, vocabulary
from gateway.errors import ConfigurationError, InvalidInput
from gateway.meanstest.policy_load import read_policy_file
from gateway.meanstest.policy_model import input_variables
from gateway.meanstest.request import parse_verification_request
from gateway.plugins import (
    Plugin,
    PluginIndicator,
    PluginTerm,
    PluginVocabulary,
    check_plugins,
    extend_catalog,
    plugin_indicator_values,
    plugins,
)

FACT = PluginTerm("school.enrolled", "在校", "In school", "bool", "point")
TUITION = PluginTerm("school.tuition", "学费", "Tuition", "yuan", "12 months")


def _plugin(adapter: str = "education", category: str = "education", **changes: object) -> Plugin:
    fields: dict[str, object] = {
        "category": category,
        "facts": (FACT, TUITION),
        "indicators": (
            PluginIndicator(
                PluginTerm("children_in_school", "在校子女数", "Children in school", "count", "point"),
                FACT.code,
                "count_true",
            ),
            PluginIndicator(
                PluginTerm("tuition_total", "学费合计", "Tuition", "yuan", "12 months"), TUITION.code, "sum"
            ),
        ),
        "purposes": ("dibao.application",),
    }
    fields.update(changes)
    return Plugin(adapter, PluginVocabulary(**fields))  # type: ignore[arg-type]


def test_a_well_formed_plugin_passes() -> None:
    check_plugins([_plugin()])


@pytest.mark.parametrize(
    ("plugins_declared", "message"),
    [
        ([_plugin(category="tax")], "'tax', which the built-in categories"),
        (
            [_plugin(facts=(PluginTerm("income.wages", "x", "x", "yuan", "month"),), indicators=())],
            "contracts/indicators.yaml",
        ),
        ([_plugin(), _plugin(adapter="other", category="other")], "adapter plugin education already defines"),
        ([_plugin(category="Education")], "malformed"),
        ([_plugin(facts=(FACT,))], "undeclared fact"),
    ],
)
def test_clashes_and_malformed_declarations_stop_the_hub(plugins_declared: list[Plugin], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_plugins(plugins_declared)


def test_indicators_aggregate_over_living_members_when_the_adapter_answered() -> None:
    spending, chronic = "medical.spending_12m", "medical.chronic_illness"  # the installed example's facts
    facts = {
        spending: [Fact(spending, 0, 100.0), Fact(spending, 1, 0.25), Fact(spending, 2, 50.0)],
        chronic: [Fact(chronic, 0, True), Fact(chronic, 1, False), Fact(chronic, 2, True)],
    }
    values = plugin_indicator_values(facts, {"medical_insurance"}, [0, 1])  # member 2 is not living
    assert values["medical_spending_12m"] == 100.25
    assert values["chronic_illness_members"] == 1
    assert values["medical_reimbursed_12m"] == 0.0
    assert plugin_indicator_values(facts, {"tax"}, [0, 1, 2]) == {}  # not asked, not shown


def test_the_installed_example_is_merged_into_vocabulary_purposes_requests_and_policies() -> None:
    assert "medical_insurance" in [p.vocabulary.category for p in plugins()]
    assert "medical_spending_12m" not in base_vocabulary()
    assert vocabulary()["medical_spending_12m"].zh == "近12个月家庭医疗总费用"
    assert vocabulary()["medical.spending_12m"].source == "medical_insurance"
    assert input_variables()["chronic_illness_members"].kind == "int"
    catalog = extend_catalog(PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"))
    assert "medical_insurance" in catalog.get("dibao.application").categories  # type: ignore[union-attr]
    assert "medical_insurance" not in catalog.get("temporary_assistance.application").categories  # type: ignore[union-attr]
    body = {"case_id": "c-1", "purpose": "dibao.application", "region": "110101", "operator": "op-1"}
    body["household"] = [{"id_number": "110101199003070011", "name": "王", "relation": "self"}]
    assert (
        parse_verification_request({**body, "categories": ["tax", "medical_insurance"]}).categories[-1]
        == "medical_insurance"
    )
    with pytest.raises(InvalidInput):
        parse_verification_request({**body, "categories": ["education"]})


def test_a_plugin_naming_an_unknown_purpose_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.plugins

    monkeypatch.setattr(gateway.plugins, "plugins", lambda: (_plugin(purposes=("no.such",)),))
    with pytest.raises(ConfigurationError, match="unknown purpose"):
        extend_catalog(PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml"))


def test_a_policy_may_reference_a_plugin_indicator(tmp_path: Path) -> None:
    source = (CONTRACTS_DIR / "policies" / "110101" / "dibao.yaml").read_text(encoding="utf-8")
    derived = "monthly_income_per_capita * (1.0 - employment_cost_share)"
    assert derived in source
    referencing = tmp_path / "dibao.yaml"
    referencing.write_text(source.replace(derived, f"{derived} - medical_spending_12m / 12.0"), encoding="utf-8")
    policy = read_policy_file(referencing)
    assert "medical_spending_12m" in policy.derived[0].expr.names
    referencing.write_text(source.replace(derived, f"{derived} - no_such_indicator"), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="no_such_indicator"):
        read_policy_file(referencing)
