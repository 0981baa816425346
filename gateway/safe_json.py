"""The one JSON parser for what comes from outside: JOSE headers and claims, client assertions, signed bodies.

Python's ``json.loads`` recurses once per nesting level (a few thousand ``[`` raise ``RecursionError``),
accepts ``NaN`` and ``Infinity`` (not JSON, RFC 8259 §6), turns ``1e999`` into ``inf``, builds integers of any
size (which then overflow a 64-bit database column), and lets a repeated member name silently win (RFC 7515
§5.2 and RFC 7159 §4 leave that to the parser; a JOSE header with two ``alg`` is ambiguous). :func:`loads`
refuses each of these with :class:`JsonRejected` (a ``ValueError``, as ``json.JSONDecodeError`` is), before any
recursion happens, so callers translate one error into their own problem.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
"""Arrays and objects nested deeper than this are refused; every document of the hub needs fewer than 10."""
DEFAULT_MAX_BYTES = 1_048_576
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A JSON string (RFC 8259 §7): brackets inside strings do not nest. Linear: the two alternatives are disjoint.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENING, _CLOSING = b"[{", b"]}"
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in _OPENING + _CLOSING)
# Opening brackets become +1, closing ones -1 (0xff as a signed byte), so a running sum is the depth.
_DEPTH_STEP = bytes.maketrans(_OPENING + _CLOSING, b"\x01\x01\xff\xff")


class JsonRejected(ValueError):
    """The text is not JSON the hub accepts; the message names the rule, never the content."""


def loads(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` as RFC 8259 JSON within the bounds above, or raise :class:`JsonRejected`."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise JsonRejected(f"the JSON text is larger than {max_bytes} bytes")
    if nesting_depth(raw) > max_depth:
        raise JsonRejected(f"the JSON text nests deeper than {max_depth} levels")
    try:
        return json.loads(
            raw,
            parse_int=_int64,
            parse_float=_finite_float,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_members,
        )
    except RecursionError as exc:  # unreachable after the depth check; kept so no path can give a 500
        raise JsonRejected("the JSON text nests too deeply") from exc
    except JsonRejected:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonRejected("the text is not valid JSON") from exc


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects, counted without parsing (so without recursion)."""
    steps = _STRING.sub(b"", raw).translate(_DEPTH_STEP, _NOT_BRACKETS)
    return max(accumulate(array("b", steps)), default=0)


def _int64(text: str) -> int:
    # At most 19 digits and a sign: no conversion of a long literal is even attempted.
    if len(text) > 20:
        raise JsonRejected("an integer is out of the 64-bit range")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise JsonRejected("an integer is out of the 64-bit range")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRejected("a number is out of the floating-point range")
    return value


def _no_constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not a JSON number (RFC 8259 §6)")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise JsonRejected("an object repeats a member name")
    return members
