"""GB 32100-2015 unified social credit code (统一社会信用代码).

18 characters over the 31-character alphabet 0-9A-HJ-NP-RTUWXY (no I, O, Z, S, V). The 18th is a check
character: weights W_i = 3^(i-1) mod 31 for positions 1..17, C18 = 31 - (sum mod 31), where 31 maps to 0
(GB 32100-2015 §4 and Appendix B).
"""

from __future__ import annotations

from gateway.errors import InvalidCreditCode

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def credit_code_check_char(first17: str) -> str:
    try:
        total = sum(_VALUE[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    except (KeyError, ValueError) as exc:
        raise InvalidCreditCode("the first 17 characters must be from the GB 32100 alphabet") from exc
    return ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(raw: str) -> str:
    """Return the upper-cased code or raise :class:`InvalidCreditCode`."""
    # No strip(), no upper() before the check: str.upper() maps some non-ASCII letters to ASCII ones.
    if len(raw) != 18 or not raw.isascii():
        raise InvalidCreditCode("a unified social credit code is 18 characters of 0-9A-HJ-NP-RTUWXY")
    code = raw.upper()
    if any(char not in _VALUE for char in code):
        raise InvalidCreditCode("a unified social credit code is 18 characters of 0-9A-HJ-NP-RTUWXY")
    if credit_code_check_char(code[:17]) != code[17]:
        raise InvalidCreditCode("the check character does not match (GB 32100-2015)")
    return code
