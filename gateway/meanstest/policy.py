"""Means-test policies as data and the explainable decision they give (docs/architecture.md §6, docs/policies.md).

A policy (contracts/policies/<region>/<program>.yaml) states the region's standard, parameters, derived values
and rules; each rule is ``value op threshold`` with both sides written in CEL over the household's indicators.
:func:`decide` evaluates a policy for one household and returns every rule's result with its value, threshold
and a Chinese and English explanation, and a recommendation:

- ``review`` when a flag the policy sends to review is raised (or a flag the policy does not know, or
  ``record_mismatch``, which no policy can make less than a review), when an
  indicator a rule needs is unknown (its source did not answer: ``None``) or when a rule cannot be evaluated;
- otherwise ``ineligible`` when a rule fails, ``eligible`` when every rule holds.

The recommendation supports staff; a person confirms (社会救助暂行办法 art. 11: the civil affairs department
of the county decides), and every explanation says so.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import cel

from gateway.errors import ConfigurationError, InvalidInput, PolicyNotFound
from gateway.meanstest.policy_load import CEL_ERRORS, read_policy_file, read_policy_files
from gateway.meanstest.policy_model import (
    ALWAYS_REVIEW_FLAGS,
    HOUSEHOLD_VARIABLES,
    SEVERE_DISABILITY_GRADES,
    SOURCE_NAMES,
    STANDARD,
    WORKING_AGE,
    Number,
    Op,
    Policy,
    Rule,
    Text,
    input_variables,
)

__all__ = [
    "Decision",
    "Policy",
    "PolicyInputs",
    "PolicySet",
    "RuleOutcome",
    "decide",
    "evaluate_rules",
    "household_variables",
    "load_policies",
    "load_policy",
]

Recommendation = Literal["eligible", "ineligible", "review"]

_COMPARE: Mapping[Op, Callable[[Number, Number], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
# The relation that holds when the rule's relation does not, for "3,500.00 ≥ 1,450.00, not met".
_NEGATED: Mapping[Op, str] = {"<": "≥", "<=": ">", ">": "≤", ">=": "<", "==": "≠", "!=": "="}
_SHOWN: Mapping[Op, str] = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
_UNITS: Mapping[str, tuple[str, str]] = {
    "yuan": (" 元", " yuan"),
    "yuan/month": (" 元/月", " yuan/month"),
    "m2": (" 平方米", " m²"),
    "persons": (" 人", " persons"),
    "count": ("", ""),
}


# -- loading -----------------------------------------------------------------------------------------------


class PolicySet:
    """The policies in force at the hub, by id (``<region>/<program>``)."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._by_id: dict[str, Policy] = {}
        for policy in policies:
            if policy.id in self._by_id:
                raise ConfigurationError(f"two policies with id {policy.id}")
            self._by_id[policy.id] = policy

    def __iter__(self) -> Iterator[Policy]:
        return iter(sorted(self._by_id.values(), key=lambda policy: policy.id))

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, policy_id: str) -> Policy:
        try:
            return self._by_id[policy_id]
        except KeyError:
            raise PolicyNotFound(f"no policy {policy_id}") from None

    def in_effect(self, region: str, on: date) -> tuple[Policy, ...]:
        """Every programme of ``region`` in effect on ``on``, by programme name."""
        return tuple(policy for policy in self if policy.region == region and policy.in_effect_on(on))

    def for_purpose(self, region: str, purpose: str, on: date) -> Policy:
        """The policy a verification for ``purpose`` (``<program>.<action>``, contracts/purposes.yaml) applies."""
        program = purpose.split(".", 1)[0]
        policy = self._by_id.get(f"{region}/{program}")
        if policy is None or not policy.in_effect_on(on):
            raise PolicyNotFound(f"no {program} policy of region {region} is in effect on {on.isoformat()}")
        return policy


def load_policies(directory: Path) -> PolicySet:
    """Every policy under ``directory`` (``<region>/<program>.yaml``).

    Raises ``ConfigurationError`` if any file is invalid; its ``problems`` extension lists each one as
    ``gateway.meanstest.policy_load.Problem`` (file, rule id, reason), so the hub refuses to start.
    """
    policies, problems = read_policy_files(directory)
    if problems:
        raise ConfigurationError(
            f"{len(problems)} policy problem(s): " + "; ".join(map(str, problems)), problems=problems
        )
    return PolicySet(policies)


def load_policy(path: Path) -> Policy:
    """One policy file anywhere (a draft for ``hedui policy simulate``); ``ConfigurationError`` if invalid."""
    return read_policy_file(path)


# -- inputs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyInputs:
    """What a policy is evaluated over: known values of the declared names, the unknown ones, the flags."""

    values: Mapping[str, Number]
    unknown: frozenset[str]
    flags: tuple[str, ...]

    @classmethod
    def of(
        cls,
        indicators: Mapping[str, Any],
        flags: Iterable[str] = (),
        *,
        members: Sequence[Mapping[str, Any]] | None = None,
        as_of: date | None = None,
    ) -> PolicyInputs:
        """From a report's ``indicators`` and ``flags``, and its composition (``household.members``) with the
        reference date, from which the household variables are computed.

        A declared name that is missing or ``None`` is unknown. Raises ``InvalidInput`` for a name that is not
        an indicator or household variable, or a value that is not a number.
        """
        declared = input_variables()
        values: dict[str, Number] = {}
        for name, value in indicators.items():
            variable = declared.get(name)
            if variable is None:
                raise InvalidInput(f"unknown indicator {name!r}")
            if value is not None:
                values[name] = _typed(name, value, integral=variable.kind == "int")
        if members is not None:
            if as_of is None:
                raise InvalidInput("the reference date is needed to compute ages")
            values.update(
                (name, value) for name, value in household_variables(members, as_of).items() if value is not None
            )
        unknown = frozenset(declared.keys() - values.keys())
        checked_flags = tuple(flags)
        if not all(isinstance(flag, str) for flag in checked_flags):
            raise InvalidInput("flags must be strings")
        return cls(values=values, unknown=unknown, flags=checked_flags)


def _typed(name: str, value: Any, *, integral: bool) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"indicator {name!r} must be a finite number")
    if not integral:
        return float(value)
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"indicator {name!r} must be a whole number")
    return int(value)


def household_variables(members: Sequence[Mapping[str, Any]], as_of: date) -> dict[str, int | None]:
    """The household variables of :data:`HOUSEHOLD_VARIABLES` from the composition of a report.

    Each member is a ``household.members`` entry (``deceased``, ``birth_date``, ``disability_grade``). A value
    is ``None`` when a living member's birth date or civil-affairs record (``deceased`` None) is unknown.
    """
    able = 0
    for member in members:
        deceased = member.get("deceased")
        birth = member.get("birth_date")
        if deceased is None:
            return dict.fromkeys(HOUSEHOLD_VARIABLES)
        if deceased:
            continue
        if birth is None:
            return dict.fromkeys(HOUSEHOLD_VARIABLES)
        age = _full_years(_as_date(birth), as_of)
        grade = member.get("disability_grade")
        severe = grade is not None and int(grade) in SEVERE_DISABILITY_GRADES
        if WORKING_AGE[0] <= age < WORKING_AGE[1] and not severe:
            able += 1
    return {"members_with_work_capacity": able}


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput("a member's birth date is not an ISO date") from exc


def _full_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# -- evaluation --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's result: ``passed`` is None when the rule could not be decided (unknown data or an error)."""

    id: str
    passed: bool | None
    value: Number | None
    threshold: Number | None
    explanation: Text

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
            "explanation": self.explanation.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the recommendation is what it is; ``subject`` is the rule id or flag it is about."""

    code: str
    text: Text
    subject: str | None = None

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code, **self.text.as_dict()}
        if self.subject is not None:
            entry["subject"] = self.subject
        return entry


@dataclass(frozen=True, slots=True)
class Decision:
    policy: Policy
    recommendation: Recommendation
    rules: tuple[RuleOutcome, ...]
    reasons: tuple[Reason, ...]

    def report_fields(self) -> dict[str, Any]:
        """The report's ``policy`` and ``decision`` members (docs/architecture.md §6)."""
        return {
            "policy": {"id": self.policy.id, "version": self.policy.version},
            "decision": {
                "recommendation": self.recommendation,
                "rules": [rule.as_dict() for rule in self.rules],
                "reasons": [reason.as_dict() for reason in self.reasons],
            },
        }


def evaluate_rules(policy: Policy, inputs: PolicyInputs) -> tuple[RuleOutcome, ...]:
    """Every rule of ``policy`` over ``inputs``, in the policy's order. Flags play no part here."""
    known: dict[str, Number] = dict(inputs.values)
    known[STANDARD] = policy.standard
    known.update(policy.parameters)
    missing: dict[str, frozenset[str]] = {name: frozenset({name}) for name in inputs.unknown}
    broken: dict[str, str] = {}
    context = cel.Context(variables=known)
    for derived in policy.derived:
        if derived.expr.names & broken.keys():
            broken[derived.id] = next(broken[name] for name in derived.expr.names if name in broken)
        elif derived.expr.names & missing.keys():
            missing[derived.id] = frozenset().union(*(missing[n] for n in derived.expr.names if n in missing))
        else:
            try:
                known[derived.id] = _number(derived.expr.program.execute(context))
            except CEL_ERRORS as exc:
                broken[derived.id] = f"{derived.id}: {type(exc).__name__}"
                continue
            context.add_variable(derived.id, known[derived.id])
    return tuple(_outcome(rule, context, known, missing, broken) for rule in policy.rules)


def _number(result: Any) -> Number:
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise TypeError(f"evaluates to {type(result).__name__}, not a number")
    if not math.isfinite(result):
        raise ArithmeticError("not a finite number")
    return result


def _outcome(
    rule: Rule,
    context: cel.Context,
    known: Mapping[str, Number],
    missing: Mapping[str, frozenset[str]],
    broken: Mapping[str, str],
) -> RuleOutcome:
    def side(names: frozenset[str], program: cel.Program) -> Number | None:
        if names & (missing.keys() | broken.keys()):
            return None
        return _number(program.execute(context))

    try:
        value = side(rule.value.names, rule.value.program)
        threshold = side(rule.threshold.names, rule.threshold.program)
    except CEL_ERRORS as exc:
        return RuleOutcome(rule.id, None, None, None, _cannot_evaluate(rule, type(exc).__name__))
    names = rule.value.names | rule.threshold.names
    failed_derived = sorted(broken[name] for name in names if name in broken)
    if failed_derived:
        return RuleOutcome(rule.id, None, _shown(value), _shown(threshold), _cannot_evaluate(rule, failed_derived[0]))
    if value is None or threshold is None:
        unknown = sorted(frozenset().union(*(missing[name] for name in names if name in missing)))
        return RuleOutcome(rule.id, None, _shown(value), _shown(threshold), _data_missing(rule, unknown))
    passed = _COMPARE[rule.op](value, threshold)
    return RuleOutcome(rule.id, passed, _shown(value), _shown(threshold), _explained(rule, value, threshold, passed))


def _shown(number: Number | None) -> Number | None:
    # Reports show money to the fen; the comparison itself used the unrounded value.
    return round(number, 2) if isinstance(number, float) else number


def _formatted(number: Number) -> str:
    return f"{number:,}" if isinstance(number, int) else f"{number:,.2f}"


def _explained(rule: Rule, value: Number, threshold: Number, passed: bool) -> Text:
    zh_unit, en_unit = _UNITS[rule.unit or "count"]
    relation = _SHOWN[rule.op] if passed else _NEGATED[rule.op]
    shown = f"{_formatted(value)}{{unit}} {relation} {_formatted(threshold)}{{unit}}"
    return Text(
        zh=f"{rule.description.zh}：{shown.format(unit=zh_unit)}，{'符合' if passed else '不符合'}。",
        en=f"{rule.description.en}: {shown.format(unit=en_unit)}, {'met' if passed else 'not met'}.",
    )


def _data_missing(rule: Rule, unknown: Sequence[str]) -> Text:
    declared = input_variables()
    sources = sorted({source for name in unknown for source in declared[name].sources})
    return Text(
        zh=f"{rule.description.zh}：缺少数据（{'、'.join(declared[n].label.zh for n in unknown)}；来源："
        f"{'、'.join(SOURCE_NAMES[s][0] for s in sources)}），无法判断，须人工核实。",
        en=f"{rule.description.en}: data missing ({', '.join(declared[n].label.en for n in unknown)}; from "
        f"{', '.join(SOURCE_NAMES[s][1] for s in sources)}), cannot be decided; staff must check.",
    )


def _cannot_evaluate(rule: Rule, cause: str) -> Text:
    return Text(
        zh=f"{rule.description.zh}：规则无法计算（{cause}），须人工核实。",
        en=f"{rule.description.en}: the rule cannot be evaluated ({cause}); staff must check.",
    )


def decide(policy: Policy, inputs: PolicyInputs) -> Decision:
    """The recommendation of ``policy`` for one household, with every rule's result and the reasons."""
    rules = evaluate_rules(policy, inputs)
    failed = [rule for rule in rules if rule.passed is False]
    undecided = [rule for rule in rules if rule.passed is None]
    flag_reasons: list[Reason] = []
    review_flags: list[str] = []
    for flag in dict.fromkeys(inputs.flags):
        treatment = policy.flags.get(flag)
        if treatment is None:
            review_flags.append(flag)
            flag_reasons.append(
                Reason(
                    "unknown_flag",
                    Text(
                        f"核对结果带有本政策未规定的标记（{flag}），须人工复核。",
                        f"The result carries a flag this policy does not cover ({flag}); staff must review it.",
                    ),
                    flag,
                )
            )
        else:
            review = treatment.action == "review" or flag in ALWAYS_REVIEW_FLAGS
            if review:
                review_flags.append(flag)
            flag_reasons.append(Reason("review_flag" if review else "flag", treatment.text, flag))

    recommendation: Recommendation
    if review_flags or undecided:
        recommendation = "review"
        causes_zh = [*(f"标记 {flag}" for flag in review_flags), *(f"规则 {rule.id} 无法判断" for rule in undecided)]
        causes_en = [*(f"flag {flag}" for flag in review_flags), *(f"rule {rule.id} undecided" for rule in undecided)]
        summary = Text(
            f"需人工复核（{'；'.join(causes_zh)}）：复核前不得认定为{policy.name.zh}对象，由工作人员核实后决定。",
            f"Review needed ({'; '.join(causes_en)}): not to be granted {policy.name.en} before a member of "
            "staff has checked and decided.",
        )
    elif failed:
        recommendation = "ineligible"
        summary = Text(
            f"有 {len(failed)} 项条件不符合{policy.name.zh}规定，建议不予认定；须经工作人员审核确认。",
            f"{len(failed)} condition(s) of {policy.name.en} not met: recommended ineligible; a member of "
            "staff must confirm.",
        )
    else:
        recommendation = "eligible"
        summary = Text(
            f"符合{policy.name.zh}的全部核对条件，建议认定；须经工作人员审核确认。",
            f"Every condition of {policy.name.en} checked is met: recommended eligible; a member of staff "
            "must confirm.",
        )
    reasons = [
        Reason(recommendation, summary),
        *(Reason("rule_failed", rule.explanation, rule.id) for rule in failed),
        *(Reason("rule_undecided", rule.explanation, rule.id) for rule in undecided),
        *flag_reasons,
        *(Reason("confirm", text) for text in policy.confirm),
    ]
    return Decision(policy=policy, recommendation=recommendation, rules=rules, reasons=tuple(reasons))
