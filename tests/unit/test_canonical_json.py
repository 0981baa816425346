"""gateway.canonical_json: byte for byte the reference RFC 8785 implementation, over generated values."""

from __future__ import annotations

import decimal
import enum
import json
import math
import uuid
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway import canonical_json

# Strings over all of Unicode (controls, quotes, backslashes, non-ASCII, beyond U+FFFF, U+E000..U+FFFF);
# lone surrogates included, which both must refuse alike.
TEXT = st.text(st.characters(codec=None), max_size=12)
KEYS = st.one_of(TEXT, st.sampled_from(["a", "b", "\ue000", "\U0001f600", "\x7f", "é", "中", ""]))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.integers(),  # beyond 2^53 too: both refuse
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1e21, 1e20, 1e-6, 1e-7, 5e-324, 1.7976931348623157e308, 0.1, 123.456]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.tuples(children, children), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=30,
)


def outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", encode(value)
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:  # the reference's own refusals
        return "error", type(exc)


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
@example({"\ue000": 1, "\U0001f600": 2, "a": [1.0, -0.0, 1e21, 1e-7, '\x00\x1f\x7f"\\/']})
@example({"big": 2**53, "small": -(2**53)})
@example(["\ud800"])
# Where Python's repr of a float changes between positional and exponent notation (1e-4, 1e16), and zeros.
@example([1e-4, 9.999999999999999e-05, 0.00011, 1e16, 9999999999999998.0, 1e15 + 0.5, -0.0, 0.0, -1.5, 2.0**53])
@example({"name": "\U00020000\u4e2d", "\ue000": ["\U0001f600"]})  # beyond U+FFFF in values only
@example([2**53 - 1, -(2**53) + 1, True, False, None])
def test_identical_to_the_reference(value: Any) -> None:
    assert outcome(canonical_json.dumps, value) == outcome(rfc8785.dumps, value)


@settings(max_examples=150, derandomize=True)
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_objects_identical_to_the_reference(value: dict[str, Any]) -> None:
    assert outcome(canonical_json.dumps, value) == outcome(rfc8785.dumps, value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_what_jcs_cannot_represent_is_refused_as_by_the_reference(value: Any) -> None:
    with pytest.raises(rfc8785.FloatDomainError):
        canonical_json.dumps(value)


def test_a_realistic_report_and_entry_are_identical() -> None:
    report = {
        "verification_id": "6f1c2a9e-3b7d-4e52-9a43-0c1d2e3f4a5b",
        "household": {"members": [{"name": "张三", "relation": "head", "age": 44}]},
        "indicators": {
            "monthly_income_total": 2310.5,
            "financial_assets_total": 12000,
            "per_capita": 770.1666666666666,
        },
        "flags": [],
        "sources": [{"adapter": "tax", "status": "ok", "latency_ms": 12}],
        "decision": {"recommendation": "eligible", "reasons": ["收入低于标准"]},
    }
    assert canonical_json.dumps(report) == rfc8785.dumps(report)
    assert json.loads(canonical_json.dumps(report)) == json.loads(json.dumps(report))


class _Name(str):
    pass


class _Level(enum.IntEnum):
    HIGH = 2


@pytest.mark.parametrize(
    "value",
    [{"k": _Name("v")}, {_Name("k"): 1}, [_Level.HIGH], {"when": uuid.UUID(int=1)}, {"d": decimal.Decimal("1.5")}],
)
def test_subclasses_and_other_types_are_left_to_the_reference(value: Any) -> None:
    assert outcome(canonical_json.dumps, value) == outcome(rfc8785.dumps, value)
