from __future__ import annotations

from datetime import date

import pytest

from gateway.registry.duplicates import (
    DEFAULT_FORBIDDEN_OVERLAPS,
    PROGRAMMES,
    ActiveEnrollment,
    DuplicateFinding,
    excluded_programmes,
    find_duplicates,
    programme_for_purpose,
)

SINCE = date(2023, 4, 1)


@pytest.mark.parametrize("programme", PROGRAMMES)
@pytest.mark.parametrize("action", ["application", "residence_application", "review"])
def test_programme_purposes_name_their_programme(programme: str, action: str) -> None:
    assert programme_for_purpose(f"{programme}.{action}") == programme


@pytest.mark.parametrize(
    "purpose",
    [
        "temporary_assistance.application",
        "audit.review",
        "dibao",
        "dibao.",
        "dibao.application.extra",
        "tekun_x.review",
    ],
)
def test_other_purposes_name_no_programme(purpose: str) -> None:
    assert programme_for_purpose(purpose) is None


def test_default_policy_exclusions_apply_both_ways() -> None:
    assert excluded_programmes("dibao", DEFAULT_FORBIDDEN_OVERLAPS) == {"tekun", "marginal"}
    assert excluded_programmes("tekun", DEFAULT_FORBIDDEN_OVERLAPS) == {"dibao"}
    assert excluded_programmes("marginal", DEFAULT_FORBIDDEN_OVERLAPS) == {"dibao"}
    assert excluded_programmes("rigid_expenditure", DEFAULT_FORBIDDEN_OVERLAPS) == frozenset()


def test_a_programme_never_excludes_itself() -> None:
    assert excluded_programmes("dibao", {"dibao": {"dibao", "tekun"}}) == {"tekun"}


def test_same_programme_in_another_region_is_a_finding() -> None:
    active = [ActiveEnrollment(1, "dibao", "510502", SINCE)]
    assert find_duplicates(active, "dibao", "110101", DEFAULT_FORBIDDEN_OVERLAPS) == [
        DuplicateFinding(1, "dibao", "510502", SINCE, "other_region")
    ]


def test_own_enrollment_in_the_same_region_is_not_a_finding() -> None:
    active = [ActiveEnrollment(0, "dibao", "110101", SINCE)]
    assert find_duplicates(active, "dibao", "110101", DEFAULT_FORBIDDEN_OVERLAPS) == []


@pytest.mark.parametrize("region", ["110101", "510502"])
def test_forbidden_overlap_is_a_finding_in_any_region(region: str) -> None:
    active = [ActiveEnrollment(2, "tekun", region, SINCE)]
    assert find_duplicates(active, "dibao", "110101", DEFAULT_FORBIDDEN_OVERLAPS) == [
        DuplicateFinding(2, "tekun", region, SINCE, "forbidden_overlap")
    ]


def test_allowed_overlap_is_not_a_finding() -> None:
    active = [ActiveEnrollment(0, "rigid_expenditure", "510502", SINCE)]
    assert find_duplicates(active, "dibao", "110101", DEFAULT_FORBIDDEN_OVERLAPS) == []


def test_the_policy_is_a_parameter() -> None:
    active = [ActiveEnrollment(0, "rigid_expenditure", "110101", SINCE), ActiveEnrollment(1, "tekun", "110101", SINCE)]
    findings = find_duplicates(active, "dibao", "110101", {"dibao": {"rigid_expenditure"}})
    assert [(f.member_index, f.programme, f.reason) for f in findings] == [
        (0, "rigid_expenditure", "forbidden_overlap")
    ]


def test_findings_come_in_household_order() -> None:
    active = [
        ActiveEnrollment(2, "dibao", "450902", date(2024, 1, 1)),
        ActiveEnrollment(0, "tekun", "110101", date(2022, 1, 1)),
        ActiveEnrollment(2, "marginal", "110101", date(2021, 1, 1)),
    ]
    findings = find_duplicates(active, "dibao", "110101", DEFAULT_FORBIDDEN_OVERLAPS)
    assert [(f.member_index, f.programme) for f in findings] == [(0, "tekun"), (2, "marginal"), (2, "dibao")]


def test_report_entry_names_the_household_position_only() -> None:
    entry = DuplicateFinding(1, "dibao", "510502", SINCE, "other_region").as_dict()
    assert entry == {
        "household_index": 1,
        "programme": "dibao",
        "region": "510502",
        "since": "2023-04-01",
        "reason": "other_region",
    }
