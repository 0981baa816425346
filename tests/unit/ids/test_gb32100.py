from __future__ import annotations

import pytest

from gateway.errors import InvalidCreditCode, InvalidMemberId, InvalidRegion
from gateway.ids import MemberId, credit_code_check_char, validate_credit_code, validate_region

# Published unified social credit codes (from the national enterprise credit information publicity system):
# Alibaba (China) Co., Ltd. and Tencent Technology (Shenzhen) Co., Ltd.
PUBLISHED = ["91330100716105852F", "9144030071526726XG"]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_validate(code: str) -> None:
    assert validate_credit_code(code) == code
    assert credit_code_check_char(code[:17]) == code[17]


def test_wrong_check_character_is_refused() -> None:
    with pytest.raises(InvalidCreditCode, match="check character"):
        validate_credit_code("91330100716105852G")


@pytest.mark.parametrize("code", ["9133010071610585", "91330100716105852I", "9133010071610585ZF"])
def test_bad_shapes_are_refused(code: str) -> None:
    with pytest.raises(InvalidCreditCode):
        validate_credit_code(code)


def test_member_id_round_trip() -> None:
    member = MemberId.parse("CN/GOV/11100000MB0348916Y/hub")
    assert (member.member_class, member.subsystem) == ("GOV", "hub")
    assert str(member) == "CN/GOV/11100000MB0348916Y/hub"


@pytest.mark.parametrize(
    "raw",
    [
        "CN/GOV/11100000MB0348916Y",
        "US/GOV/11100000MB0348916Y/hub",
        "CN/EDU/11100000MB0348916Y/hub",
        "CN/GOV/11100000MB0348916X/hub",
        "CN/GOV/11100000MB0348916Y/Hub!",
    ],
)
def test_bad_member_ids(raw: str) -> None:
    with pytest.raises(InvalidMemberId):
        MemberId.parse(raw)


def test_region_codes() -> None:
    assert validate_region("110101") == "110101"
    for bad in ("11010", "011010", "11010a"):
        with pytest.raises(InvalidRegion):
            validate_region(bad)


@pytest.mark.parametrize("raw", ["１１０１０１", "११०१०१", "110101\n", " 110101", "110101 ", "11010１"])
def test_region_codes_are_six_ascii_digits(raw: str) -> None:
    with pytest.raises(InvalidRegion):
        validate_region(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "CN/GOV/11100000MB0348916Y/hub\n",
        "CN/GOV/１1100000MB0348916Y/hub",
        "CN/GOV/11100000MB0348916Y/hub/" + "x" * 10_000,
        "CN/GOV/11100000MB0348916Y/ｈub",
    ],
)
def test_member_ids_are_ascii_and_bounded(raw: str) -> None:
    with pytest.raises(InvalidMemberId):
        MemberId.parse(raw)


@pytest.mark.parametrize(
    "raw", [PUBLISHED[0] + " ", "９" + PUBLISHED[0][1:], PUBLISHED[0][:17] + "\n", PUBLISHED[0][:17] + "ｆ"]
)
def test_credit_codes_are_exactly_18_ascii_characters(raw: str) -> None:
    with pytest.raises(InvalidCreditCode):
        validate_credit_code(raw)
