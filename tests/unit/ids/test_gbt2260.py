from __future__ import annotations

import pytest

from gateway.ids.gbt2260 import region_covers


@pytest.mark.parametrize(
    ("member_region", "region"),
    [
        ("110101", "110101"),  # a county: itself
        ("510500", "510502"),  # Luzhou city: its districts
        ("510500", "510521"),
        ("510000", "510502"),  # Sichuan: every county of the province
        ("510000", "510500"),
        ("100000", "450902"),  # the whole country
    ],
)
def test_covered(member_region: str, region: str) -> None:
    assert region_covers(member_region, region)


@pytest.mark.parametrize(
    ("member_region", "region"),
    [
        ("110101", "110102"),  # a neighbouring county
        ("110101", "110100"),  # a county does not cover its city
        ("510500", "510600"),  # another city of the province
        ("510500", "510000"),  # a city does not cover its province
        ("510000", "450902"),  # another province
        ("450902", "100000"),
    ],
)
def test_not_covered(member_region: str, region: str) -> None:
    assert not region_covers(member_region, region)
