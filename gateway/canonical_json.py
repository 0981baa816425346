"""RFC 8785 (JSON Canonicalization Scheme) bytes, fast: orjson where its output is proven identical to the
reference implementation (the ``rfc8785`` package), the reference for everything else.

orjson with sorted keys writes what RFC 8785 §3.2 asks for, for the values :func:`dumps` lets it see:
no whitespace; strings in UTF-8 with only ``"``, ``\\`` and the C0 controls escaped (``\\b \\f \\n \\r \\t``
short, the others ``\\u00xx`` lowercase); integers in decimal. Two things differ, and are handled here:

- numbers that are floats: RFC 8785 §3.2.2.3 (ECMAScript's Number-to-String) differs from orjson's
  (``1.0`` is ``1``, ``1e21`` stays, ``1e-7`` is ``1e-7`` but ``0.000001`` is ``0.000001``): each float is
  written as the reference writes it and embedded as an ``orjson.Fragment`` (see :func:`_number`);
- key order: RFC 8785 §3.2.3 sorts by UTF-16 code units, orjson by code points; they differ only between
  a character beyond U+FFFF and one in U+E000..U+FFFF, so an object with a key beyond U+FFFF goes to the
  reference. (Such a character is looked for in orjson's output, four-byte UTF-8, and only then in the keys.)

Anything else unusual (integers beyond ±(2^53 − 1), which orjson refuses under ``OPT_STRICT_INTEGER``;
subclasses of the JSON types, other types, lone surrogates) goes to the reference too, which also raises its
own errors for what JCS cannot represent.
tests/unit/test_canonical_json.py checks byte identity with hypothesis.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

_BMP_END = "\uffff"
# The lead bytes of four-byte UTF-8 sequences: the characters beyond U+FFFF (RFC 3629 §4). (Five searches
# for one byte each are several times faster than one regular expression over a report.)
_BEYOND_BMP_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
# Written by orjson as RFC 8785 writes them (integers only within ±(2^53 − 1): OPT_STRICT_INTEGER).
_AS_IS = frozenset({str, int, bool, type(None)})
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


class _Unproven(Exception):
    """The value holds something the fast path does not prove identical: use the reference."""


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical form of ``value``, byte for byte what ``rfc8785.dumps`` returns (and raising
    what it raises)."""
    try:
        encoded = orjson.dumps(value if type(value) in _AS_IS else _prepared(value), option=_OPTIONS)
        if any(lead in encoded for lead in _BEYOND_BMP_LEADS) and _has_key_beyond_bmp(value):
            raise _Unproven
    except (_Unproven, orjson.JSONEncodeError):
        return rfc8785.dumps(value)
    return encoded


def _prepared(value: Any) -> Any:
    """``value`` with each float replaced by its RFC 8785 text; anything but the JSON types raises."""
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _AS_IS else _prepared(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [item if type(item) in _AS_IS else _prepared(item) for item in value]
    if kind is float:
        return orjson.Fragment(_number(value))
    raise _Unproven


def _has_key_beyond_bmp(value: Any) -> bool:
    if type(value) is dict:
        return any(key and max(key) > _BMP_END for key in value) or any(
            _has_key_beyond_bmp(item) for item in value.values()
        )
    if type(value) is list or type(value) is tuple:
        return any(_has_key_beyond_bmp(item) for item in value)
    return False


def _number(value: float) -> bytes:
    """A float as the reference writes it. The reference (``rfc8785._impl._serialize_float``) starts from
    ``str(value)`` (Python's shortest round-trip digits) and rewrites only exponents; where Python writes no
    exponent (1e-4 <= |value| < 1e16), what it returns is that string without a trailing ``.0``, and 0 for
    either zero. That case, most of the floats of a report (amounts, areas, ratios), is written here; the
    others (exponents, NaN and the infinities, which it refuses) are left to the reference."""
    if value == 0:
        return b"0"
    text = repr(value)  # str(float) is repr(float)
    if "e" in text or "n" in text:  # an exponent, or "nan" / "inf"
        return rfc8785.dumps(value)
    return (text[:-2] if text.endswith(".0") else text).encode("ascii")
