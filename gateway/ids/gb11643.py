"""GB 11643-1999 citizen identification number (公民身份号码).

Structure (§4): 6-digit address code (GB/T 2260 division), 8-digit birth date YYYYMMDD, 3-digit sequence
code (odd for men, even for women), and one check character computed with ISO 7064:1983 MOD 11-2 (§5).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from gateway.errors import InvalidIdNumber

# GB 11643-1999 §5.2: weights W_i = 2^(i-1) mod 11 for positions 18..2, written left to right.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Check character for (sum mod 11) = 0..10; 10 is written as the Roman numeral X.
_CHECK_CHARS = "10X98765432"
# ASCII classes and fullmatch only: `\\d` and isdigit() accept every Unicode digit (full-width, Devanagari, ...),
# and `$` accepts a trailing newline.
_SHAPE = re.compile(r"[1-9][0-9]{16}[0-9Xx]")
_FIRST17 = re.compile(r"[0-9]{17}")
# An identity number inside free text, wherever it stands (glued to letters or other digits too): 17 digits and
# a digit or X (GB 11643-1999), or a run of 15 digits (the first-generation numbers of GB 11643-1989, which
# audit entries refuse as well). Checked on text whose Unicode digits are folded to ASCII first.
_EMBEDDED = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")


def id_number_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if not _FIRST17.fullmatch(first17):
        raise InvalidIdNumber("the first 17 characters must be digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A validated identity number. ``repr`` masks the number so it cannot leak into logs by accident."""

    value: str
    division: str
    birth_date: date
    sex: str  # "M" or "F", from the parity of the sequence code (GB 11643-1999 §4.3)

    def __repr__(self) -> str:
        return f"IdNumber(division={self.division!r}, masked={mask_id_number(self.value)!r})"

    __str__ = __repr__


def mask_id_number(value: str) -> str:
    """Keep the first 3 and last 4 characters, as staff screens do; never log even this form."""
    return value[:3] + "*" * 11 + value[-4:] if len(value) == 18 else "*" * len(value)


def parse_id_number(raw: str, *, today: date | None = None) -> IdNumber:
    """Validate structure, birth date and check character; a lowercase ``x`` is normalised to ``X``.

    Only the 18 ASCII characters are accepted: no surrounding whitespace, no other script's digits.

    Raises :class:`InvalidIdNumber` with a reason that never contains the number itself.
    """
    if not _SHAPE.fullmatch(raw):
        raise InvalidIdNumber("an identity number is 18 characters: 17 ASCII digits and a digit or X")
    value = raw.upper()
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("the birth date part is not a calendar date") from exc
    if birth.year < 1900 or birth > (today or date.today()):
        raise InvalidIdNumber("the birth date part is out of range")
    if id_number_check_char(value[:17]) != value[17]:
        raise InvalidIdNumber("the check character does not match (ISO 7064 MOD 11-2)")
    return IdNumber(value=value, division=value[:6], birth_date=birth, sex="M" if int(value[16]) % 2 else "F")


def validate_id_number(raw: str) -> str:
    """Return the normalised identity number or raise :class:`InvalidIdNumber`."""
    return parse_id_number(raw).value


def contains_id_number(text: str) -> bool:
    """Whether free text embeds a token shaped like an identity number: 18 characters (GB 11643-1999 §4) or a
    run of 15 digits (a first-generation number).

    Compatibility forms and digits of any script are folded to ASCII first (full-width ``１`` and ``Ｘ``,
    Devanagari ``१``), so that a number written in another script is found too; the check character is not
    required to match, since a mistyped number is personal data as well.
    """
    return bool(_EMBEDDED.search(_ascii_digits(text)))


def _ascii_digits(text: str) -> str:
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)  # full-width forms, the X included
    return "".join(str(value) if (value := unicodedata.decimal(char, None)) is not None else char for char in text)
