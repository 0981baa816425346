from __future__ import annotations

from datetime import date

import pytest

from gateway.errors import InvalidIdNumber
from gateway.ids import id_number_check_char, parse_id_number, validate_id_number
from gateway.ids.gb11643 import mask_id_number

# GB 11643-1999 Appendix A worked example: 11010519491231002X (Beijing Chaoyang, born 1949-12-31, female).
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid() -> None:
    parsed = parse_id_number(STANDARD_EXAMPLE)
    assert parsed.division == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "F"


def test_check_character_of_standard_example() -> None:
    assert id_number_check_char(STANDARD_EXAMPLE[:17]) == "X"
    assert id_number_check_char("11010119900307001") == "1"


def test_lowercase_x_is_normalised() -> None:
    assert validate_id_number(STANDARD_EXAMPLE.lower()) == STANDARD_EXAMPLE


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("11010519491231002", "18 characters"),
        ("1101051949123100XX", "18 characters"),
        ("01010519491231002X", "18 characters"),
        ("110105194913310026", "calendar date"),
        ("110105218912310026", "out of range"),
        ("110105194912310021", "check character"),
    ],
)
def test_invalid_numbers_are_refused_without_echo(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(raw)
    assert reason in caught.value.detail
    assert raw not in str(caught.value)


def test_repr_masks_the_number() -> None:
    parsed = parse_id_number(STANDARD_EXAMPLE)
    assert STANDARD_EXAMPLE not in repr(parsed)
    assert STANDARD_EXAMPLE not in str(parsed)
    assert mask_id_number(STANDARD_EXAMPLE) == "110***********002X"
