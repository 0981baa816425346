"""The bounded JSON parser for outside input: depth, size, numbers, constants and repeated names."""

from __future__ import annotations

import json

import pytest

from gateway.safe_json import MAX_DEPTH, JsonRejected, loads, nesting_depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [(b"{}", 1), (b"[[[]]]", 3), (b'{"a": "[[[[{{{"}', 1), (b'["\\"[", [1]]', 2), (b"1", 0), (b'"]]]"', 0)],
)
def test_depth_is_counted_outside_strings(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_documents_within_the_bounds_parse_as_json_does() -> None:
    document = {"a": [1, -(2**63), 2**63 - 1, 1.5, None, True, "x\u0000y"], "b": {"c": [[[]]]}}
    text = json.dumps(document)
    assert loads(text) == json.loads(text)
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "[" * 100_000,  # would raise RecursionError in json.loads
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"exp": NaN}',
        '{"exp": Infinity}',
        '{"exp": -Infinity}',
        '{"exp": 1e999}',
        '{"exp": 9223372036854775808}',
        '{"exp": -9223372036854775809}',
        '{"exp": 1' + "0" * 5000 + "}",  # past CPython's int-conversion limit too
        '{"alg": "none", "alg": "EdDSA"}',
        "{",
        "",
    ],
)
def test_hostile_documents_are_rejected_as_value_errors(text: str) -> None:
    with pytest.raises(JsonRejected):
        loads(text)


def test_size_is_bounded_before_parsing() -> None:
    with pytest.raises(JsonRejected, match="larger"):
        loads(b"[" + b"1," * 100 + b"1]", max_bytes=64)


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(JsonRejected):
        loads(b'{"a": "\xff"}')
