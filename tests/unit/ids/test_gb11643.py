from __future__ import annotations

from datetime import date

import pytest

from gateway.errors import InvalidIdNumber
from gateway.ids import id_number_check_char, parse_id_number, validate_id_number
from gateway.ids.gb11643 import contains_id_number, mask_id_number

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


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


@pytest.mark.parametrize(
    "raw",
    [
        STANDARD_EXAMPLE.translate(FULL_WIDTH),  # full-width digits: isdigit() and \d say yes
        STANDARD_EXAMPLE[:17].translate(DEVANAGARI) + "X",
        STANDARD_EXAMPLE[:6] + "１" + STANDARD_EXAMPLE[7:],  # one foreign digit is enough
        STANDARD_EXAMPLE + "\n",  # `$` matches before a trailing newline
        STANDARD_EXAMPLE + " ",
        " " + STANDARD_EXAMPLE,
        STANDARD_EXAMPLE[:17] + "ｘ",
    ],
)
def test_only_the_18_ascii_characters_are_accepted(raw: str) -> None:
    with pytest.raises(InvalidIdNumber):
        parse_id_number(raw)


def test_check_char_refuses_unicode_digits() -> None:
    with pytest.raises(InvalidIdNumber):
        id_number_check_char(STANDARD_EXAMPLE[:17].translate(FULL_WIDTH))


@pytest.mark.parametrize(
    "text",
    [
        f"scans/{STANDARD_EXAMPLE}.pdf",
        f"scans/{STANDARD_EXAMPLE.lower()}",
        STANDARD_EXAMPLE[:17] + "0",  # a wrong check character is still someone's number, mistyped
        f"ref {STANDARD_EXAMPLE.translate(FULL_WIDTH)}",
        f"ref:{STANDARD_EXAMPLE[:17].translate(DEVANAGARI)}X",
        f"A{STANDARD_EXAMPLE}B",  # glued to letters
        f"9{STANDARD_EXAMPLE}9",  # inside a longer run of digits
        "110105491231002",  # a first-generation 15-digit number
    ],
)
def test_an_embedded_number_is_found(text: str) -> None:
    assert contains_id_number(text)


@pytest.mark.parametrize(
    "text",
    ["MIS-110101/2026/000123", "1" * 14, "abc", "2026-01-01T00:00:00Z", "case-20260101-0001", "１２３"],
)
def test_other_text_is_not_taken_for_a_number(text: str) -> None:
    assert not contains_id_number(text)
