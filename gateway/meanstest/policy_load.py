"""Reading policy files: YAML, the JSON Schema of contracts/policy.schema.json, then every expression compiled
and checked against the names it may use and, by evaluating it once on typed sample values, for type errors.

The ``cel`` package (cel-rust bindings) has no compile-time checker against declared variables: ``compile``
reports syntax errors only (``ValueError``); an unknown identifier surfaces at execution as ``RuntimeError``
and a type mismatch as ``TypeError`` ("no such overload"). So unknown identifiers are found statically with
``Program.variables()``, and type errors by one evaluation over a context holding every name with a value of
its declared type. A branch of a ``?:`` not taken by that evaluation is not type-checked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, cast

import cel
import jsonschema
import yaml

from gateway.contracts import CONTRACTS_DIR
from gateway.errors import ConfigurationError
from gateway.meanstest.policy_model import (
    STANDARD,
    Derived,
    Expression,
    FlagTreatment,
    Kind,
    Op,
    Policy,
    Rule,
    Text,
    input_variables,
)

SCHEMA_FILE = CONTRACTS_DIR / "policy.schema.json"
# What the cel package raises when an expression fails at execution.
CEL_ERRORS = (TypeError, RuntimeError, LookupError, ArithmeticError, ValueError)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a policy file is refused: the file, the rule (or derived value) and the reason."""

    file: str
    rule: str | None
    reason: str
    part: str = "rule"  # or "derived value"

    def __str__(self) -> str:
        where = f"{self.file}: {self.part} {self.rule}" if self.rule else self.file
        return f"{where}: {self.reason}"


class _Refused(Exception):
    def __init__(self, reason: str, rule: str | None = None, part: str = "rule") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule
        self.part = part


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that keeps dates as strings, so that the JSON Schema sees what the author wrote."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def read_policy_files(directory: Path) -> tuple[list[Policy], list[Problem]]:
    """Every ``<region>/<program>.yaml`` under ``directory``: the valid policies and the problems of the rest."""
    if not directory.is_dir():
        return [], [Problem(str(directory), None, "no such directory")]
    policies: list[Policy] = []
    problems: list[Problem] = []
    files = sorted(directory.rglob("*.yaml"))
    if not files:
        problems.append(Problem(str(directory), None, "no policy files (<region>/<program>.yaml)"))
    for path in files:
        relative = path.relative_to(directory)
        expected_id = f"{relative.parent.as_posix()}/{relative.stem}" if len(relative.parts) == 2 else None
        if expected_id is None:
            problems.append(Problem(str(path), None, "a policy file belongs at <region>/<program>.yaml"))
            continue
        try:
            policies.append(read_policy_file(path, expected_id=expected_id))
        except ConfigurationError as exc:
            problems.extend(exc.extensions["problems"])
    return policies, problems


def read_policy_file(path: Path, *, expected_id: str | None = None) -> Policy:
    """One policy file, validated and compiled; ``ConfigurationError`` with ``problems`` if it is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _refusal(path, [_Refused(f"cannot be read ({exc.strerror})")]) from exc
    try:
        document = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise _refusal(path, [_Refused(f"not valid YAML: {_first_line(str(exc))}")]) from exc
    schema_errors = _schema_errors(document)
    if schema_errors:
        raise _refusal(path, schema_errors)
    refusals: list[_Refused] = []
    policy = _build(document, str(path), expected_id, refusals)
    if refusals or policy is None:
        raise _refusal(path, refusals)
    return policy


def _refusal(path: Path, refusals: Iterable[_Refused]) -> ConfigurationError:
    problems = [Problem(str(path), refused.rule, refused.reason, refused.part) for refused in refusals]
    return ConfigurationError("; ".join(map(str, problems)), problems=problems)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


def _schema_errors(document: Any) -> list[_Refused]:
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
    refused = []
    for error in errors:
        path = list(error.absolute_path)
        rule = None
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            entry = document["rules"][path[1]]
            rule = str(entry["id"]) if isinstance(entry, dict) and "id" in entry else f"#{path[1] + 1}"
        location = "/".join(map(str, path)) or "(document)"
        refused.append(_Refused(f"schema: {location}: {_first_line(error.message)}", rule))
    return refused


def _build(
    document: Mapping[str, Any], source: str, expected_id: str | None, refusals: list[_Refused]
) -> Policy | None:
    policy_id = document["id"]
    if policy_id != f"{document['region']}/{document['program']}":
        refusals.append(_Refused(f"id {policy_id!r} is not <region>/<program> of this file's region and program"))
    if expected_id is not None and policy_id != expected_id:
        refusals.append(_Refused(f"id {policy_id!r} does not match the file's place ({expected_id})"))
    # The schema's "format": "date" has already refused impossible dates such as 2024-02-30.
    effective_from = date.fromisoformat(document["effective_from"])
    until = document.get("effective_until")
    effective_until = None if until is None else date.fromisoformat(until)
    if effective_until is not None and effective_until <= effective_from:
        refusals.append(_Refused("effective_until must be after effective_from"))
    if document["program"] in document.get("incompatible_with", ()):
        refusals.append(_Refused("a programme cannot be incompatible with itself"))

    inputs = input_variables()
    parameters = {name: float(value) for name, value in document.get("parameters", {}).items()}
    for name in parameters:
        if name in inputs or name == STANDARD:
            refusals.append(_Refused(f"parameter {name!r} hides an indicator or the standard"))
    standard = float(document["standard"]["amount"])
    # Sample values of the declared types: what the type check evaluates every expression against.
    kinds: dict[str, Kind] = {name: variable.kind for name, variable in inputs.items()}
    samples: dict[str, int | float] = {name: 1 if kind == "int" else 1.0 for name, kind in kinds.items()}
    samples[STANDARD] = standard
    samples.update(parameters)

    derived: list[Derived] = []
    for entry in document.get("derived", ()):
        name = entry["id"]
        if name in samples:
            refusals.append(_Refused("hides another name", name, "derived value"))
            continue
        try:
            expression, sample = _checked(entry["expr"], samples, "expr")
        except _Refused as refused:
            refused.rule, refused.part = name, "derived value"
            refusals.append(refused)
            continue
        derived.append(Derived(id=name, expr=expression, label=Text(entry["zh"], entry["en"])))
        samples[name] = sample

    rules: list[Rule] = []
    seen: set[str] = set()
    for entry in document["rules"]:
        rule_id = entry["id"]
        if rule_id in seen:
            refusals.append(_Refused("duplicate rule id", rule_id))
            continue
        seen.add(rule_id)
        try:
            value, _ = _checked(_cel_source(entry["value"]), samples, "value")
            threshold, _ = _checked(_cel_source(entry["threshold"]), samples, "threshold")
        except _Refused as refused:
            refused.rule = rule_id
            refusals.append(refused)
            continue
        rules.append(
            Rule(
                id=rule_id,
                description=Text(**entry["description"]),
                value=value,
                op=cast(Op, entry["op"]),
                threshold=threshold,
                unit=entry.get("unit"),
            )
        )
    if refusals:
        return None
    return Policy(
        id=policy_id,
        version=document["version"],
        region=document["region"],
        program=document["program"],
        name=Text(**document["name"]),
        effective_from=effective_from,
        effective_until=effective_until,
        standard=standard,
        parameters=parameters,
        derived=tuple(derived),
        rules=tuple(rules),
        flags={
            flag: FlagTreatment(action=entry["action"], text=Text(entry["zh"], entry["en"]))
            for flag, entry in document["flags"].items()
        },
        incompatible_with=tuple(document.get("incompatible_with", ())),
        confirm=tuple(Text(**entry) for entry in document.get("confirm", ())),
        source=source,
    )


def _cel_source(operand: str | int | float) -> str:
    # A bare YAML number is a CEL literal of the same type (1 is int, 1.5 and 1.0 are double).
    return operand if isinstance(operand, str) else repr(operand)


_UNDEFINED = re.compile(r"Undefined variable or function: '([^']+)'")
_TYPE_HINT = " (CEL does not mix int and double: counts are int, money is double; convert with double(x))"


def _first_sentence(message: str) -> str:
    return _first_line(message).split(". ", 1)[0].rstrip(".")


def compile_expression(source: str) -> Expression:
    """Compile one CEL expression; ``ValueError`` carries the parser's message for a syntax error."""
    try:
        program = cel.compile(source)
    except ValueError as exc:
        # "Failed to parse expression '...': ERROR: <input>:1:29: Syntax error: mismatched input ..."
        detail = _first_line(str(exc).split("ERROR: <input>:", 1)[-1])
        position, _, message = detail.partition(": ")
        raise ValueError(f"syntax error at {position}: {message.removeprefix('Syntax error: ')}") from exc
    return Expression(source=source, program=program, names=frozenset(program.variables()))


def _checked(source: str, samples: Mapping[str, int | float], part: str) -> tuple[Expression, int | float]:
    try:
        expression = compile_expression(source)
    except ValueError as exc:
        raise _Refused(f"{part}: {exc}") from exc
    unknown = sorted(expression.names - samples.keys())
    if unknown:
        raise _Refused(f"{part}: unknown identifier {', '.join(map(repr, unknown))}")
    try:
        result = expression.program.execute(cel.Context(variables={name: samples[name] for name in expression.names}))
    except ArithmeticError as exc:
        raise _Refused(f"{part}: fails on sample values (every indicator 1): {_first_sentence(str(exc))}") from exc
    except CEL_ERRORS as exc:
        undefined = _UNDEFINED.search(str(exc))
        if undefined:
            raise _Refused(f"{part}: unknown function {undefined.group(1)!r}") from exc
        raise _Refused(f"{part}: type error: {_first_sentence(str(exc))}{_TYPE_HINT}") from exc
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise _Refused(f"{part}: type error: evaluates to {type(result).__name__}, not a number")
    if not math.isfinite(result):
        raise _Refused(f"{part}: evaluates to {result} on sample values (every indicator 1)")
    return expression, result
