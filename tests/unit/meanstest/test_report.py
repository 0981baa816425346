"""The report body: status and flags from the broker's outcomes."""

from __future__ import annotations

from datetime import date

from adapters.base import QueryMember
from gateway.broker import SourceOutcome
from gateway.meanstest.indicators import compose_household
from gateway.meanstest.report import build_report
from gateway.meanstest.request import parse_verification_request


def _report(*outcomes: SourceOutcome) -> dict[str, object]:
    request = parse_verification_request(
        {
            "case_id": "C-1",
            "purpose": "dibao.application",
            "region": "110101",
            "operator": "op-1",
            "household": [{"id_number": "11010519491231002X", "name": "张三", "relation": "self"}],
            "categories": ["hukou", "tax"],
        }
    )
    members = (QueryMember(0, "11010519491231002X", "张三", "self"),)
    facts = compose_household(members, [], date(2026, 11, 1))
    return build_report(verification_id="v1", request=request, outcomes=outcomes, facts=facts)


def test_a_record_mismatch_flags_the_report_and_names_the_reason() -> None:
    report = _report(
        SourceOutcome("hukou", "hukou", "error", 3, error_code="record_mismatch"),
        SourceOutcome("tax", "tax", "ok", 2),
    )
    assert report["status"] == "partial"
    assert "record_mismatch" in report["flags"]  # type: ignore[operator]
    assert report["sources"][0]["error"] == "record_mismatch"  # type: ignore[index]


def test_other_failures_do_not_raise_the_flag() -> None:
    report = _report(SourceOutcome("hukou", "hukou", "timeout", 3, error_code="timeout"))
    assert "record_mismatch" not in report["flags"]  # type: ignore[operator]
