"""RFC 8785 (JSON Canonicalization Scheme) bytes, fast: orjson where its output is proven identical to the
reference implementation (the ``rfc8785`` package), the reference for everything else.

orjson with sorted keys writes what RFC 8785 §3.2 asks for, for the values :func:`dumps` lets it see:
no whitespace; strings in UTF-8 with only ``"``, ``\\`` and the C0 controls escaped (``\\b \\f \\n \\r \\t``
short, the others ``\\u00xx`` lowercase); integers in decimal. Two things differ, and are handled here:

- numbers that are floats: RFC 8785 §3.2.2.3 (ECMAScript's Number-to-String) differs from orjson's
  (``1.0`` is ``1``, ``1e21`` stays, ``1e-7`` is ``1e-7`` but ``0.000001`` is ``0.000001``): each float is
  written by the reference and embedded as an ``orjson.Fragment``;
- key order: RFC 8785 §3.2.3 sorts by UTF-16 code units, orjson by code points; they differ only between
  a character beyond U+FFFF and one in U+E000..U+FFFF, so an object with a key beyond U+FFFF goes to the
  reference.

Anything else unusual (integers beyond ±(2^53 − 1), subclasses of the JSON types, other types, lone
surrogates) goes to the reference too, which also raises its own errors for what JCS cannot represent.
tests/unit/test_canonical_json.py checks byte identity with hypothesis.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

_INT_LIMIT = 2**53 - 1  # RFC 8785 §3.2.2.3 / I-JSON (RFC 7493 §2.2): the integers a double holds exactly
_BMP_END = "\uffff"


class _Unproven(Exception):
    """The value holds something the fast path does not prove identical: use the reference."""


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical form of ``value``, byte for byte what ``rfc8785.dumps`` returns (and raising
    what it raises)."""
    try:
        return orjson.dumps(_prepared(value), option=orjson.OPT_SORT_KEYS)
    except (_Unproven, orjson.JSONEncodeError):
        return rfc8785.dumps(value)


def _prepared(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_LIMIT <= value <= _INT_LIMIT:
            return value
        raise _Unproven
    if kind is dict:
        for key in value:
            if type(key) is not str or (key and max(key) > _BMP_END):
                raise _Unproven
        return {key: _prepared(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_prepared(item) for item in value]
    if kind is float:
        return orjson.Fragment(rfc8785.dumps(value))
    raise _Unproven
