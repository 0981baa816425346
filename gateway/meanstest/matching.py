"""Programme matching (智能救助方案分析): one household's indicators against every programme of its region.

Where :func:`gateway.meanstest.policy.decide` answers "is this application eligible?", matching answers "what
could this household receive?", e.g. not dibao but marginal status, or a rigid-expenditure case. A programme
is matched on the indicators alone (flags never remove one): it ``qualifies`` when every rule holds,
``does_not_qualify`` when a rule fails (whatever else is unknown), and is ``undetermined`` when no rule fails
but one cannot be decided. Staff confirm whatever is offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from gateway.errors import PolicyNotFound
from gateway.meanstest.policy import PolicyInputs, PolicySet, RuleOutcome, evaluate_rules
from gateway.meanstest.policy_model import Policy, Text

Outcome = Literal["qualifies", "does_not_qualify", "undetermined"]


@dataclass(frozen=True, slots=True)
class ProgramResult:
    policy: Policy
    outcome: Outcome
    rules: tuple[RuleOutcome, ...]

    @property
    def reasons(self) -> tuple[Text, ...]:
        """The explanations of the rules that failed, or else of those that could not be decided."""
        failed = tuple(rule.explanation for rule in self.rules if rule.passed is False)
        return failed or tuple(rule.explanation for rule in self.rules if rule.passed is None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "program": self.policy.program,
            "name": self.policy.name.as_dict(),
            "policy": {"id": self.policy.id, "version": self.policy.version},
            "outcome": self.outcome,
            "rules": [rule.as_dict() for rule in self.rules],
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class ProgramMatch:
    region: str
    as_of: date
    results: tuple[ProgramResult, ...]
    summary: Text

    @property
    def programs(self) -> list[str]:
        """The programmes the household qualifies for."""
        return [result.policy.program for result in self.results if result.outcome == "qualifies"]

    def as_dict(self) -> dict[str, Any]:
        """The body of a ``POST /v1/matches`` answer."""
        return {
            "region": self.region,
            "as_of": self.as_of.isoformat(),
            "programs": self.programs,
            "results": [result.as_dict() for result in self.results],
            "summary": self.summary.as_dict(),
        }


def match_programs(policies: PolicySet, region: str, inputs: PolicyInputs, as_of: date) -> ProgramMatch:
    """Every programme of ``region`` in effect on ``as_of``, evaluated for one household.

    Raises ``PolicyNotFound`` when the region has no programme in effect.
    """
    in_effect = policies.in_effect(region, as_of)
    if not in_effect:
        raise PolicyNotFound(f"no programme of region {region} is in effect on {as_of.isoformat()}")
    results = tuple(_result(policy, inputs) for policy in in_effect)
    return ProgramMatch(region=region, as_of=as_of, results=results, summary=_summary(results))


def _result(policy: Policy, inputs: PolicyInputs) -> ProgramResult:
    rules = evaluate_rules(policy, inputs)
    outcome: Outcome
    if any(rule.passed is False for rule in rules):
        outcome = "does_not_qualify"
    elif any(rule.passed is None for rule in rules):
        outcome = "undetermined"
    else:
        outcome = "qualifies"
    return ProgramResult(policy=policy, outcome=outcome, rules=rules)


def _summary(results: tuple[ProgramResult, ...]) -> Text:
    def names(outcome: Outcome) -> tuple[str, str]:
        chosen = [result.policy.name for result in results if result.outcome == outcome]
        return "、".join(name.zh for name in chosen), ", ".join(name.en for name in chosen)

    parts_zh, parts_en = [], []
    qualifies_zh, qualifies_en = names("qualifies")
    if qualifies_zh:
        parts_zh.append(f"符合：{qualifies_zh}")
        parts_en.append(f"qualifies for {qualifies_en}")
    else:
        parts_zh.append("不符合任何救助项目的核对条件")
        parts_en.append("qualifies for no programme")
    not_zh, not_en = names("does_not_qualify")
    if not_zh and qualifies_zh:
        parts_zh.append(f"不符合：{not_zh}")
        parts_en.append(f"not for {not_en}")
    open_zh, open_en = names("undetermined")
    if open_zh:
        parts_zh.append(f"数据不全无法判断：{open_zh}")
        parts_en.append(f"undetermined for lack of data: {open_en}")
    qualifying = {result.policy.program: result.policy for result in results if result.outcome == "qualifies"}
    # Either policy may declare the exclusion (the registry's duplicate check reads the same lists).
    programs = sorted(qualifying)
    for index, first in enumerate(programs):
        for second in programs[index + 1 :]:
            if second in qualifying[first].incompatible_with or first in qualifying[second].incompatible_with:
                parts_zh.append(f"{qualifying[first].name.zh}与{qualifying[second].name.zh}不可同时享受，须择一")
                parts_en.append(
                    f"{qualifying[first].name.en} and {qualifying[second].name.en} cannot be received together"
                )
    english = "; ".join(parts_en)
    return Text(
        zh="；".join(parts_zh) + "。以上为分析建议，须经工作人员审核确认。",
        en=english[:1].upper() + english[1:] + ". This is advice; a member of staff must confirm.",
    )
