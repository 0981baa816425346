"""The hub's own check of agency records against what the identity number encodes (GB 11643-1999 §4)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.base import Fact, Provenance, QueryMember, SourceQuery, SourceResult
from gateway.broker.crosscheck import check_record_identity
from gateway.errors import RecordMismatch

WOMAN = "11010519491231002X"  # born 1949-12-31, sequence 002: even, a woman
QUERY = SourceQuery("v1", "dibao.application", "110101", (QueryMember(0, WOMAN, "x", "self"),), date(2026, 11, 1))


def _result(*facts: Fact) -> SourceResult:
    return SourceResult("hukou", facts, Provenance("hukou", date(2026, 11, 1)))


def test_a_record_agreeing_with_the_number_passes() -> None:
    check_record_identity(
        QUERY,
        _result(Fact("person.birth_date", 0, "1949-12-31"), Fact("person.sex", 0, "F"), Fact("vehicle.count", 0, 1)),
    )


@pytest.mark.parametrize(
    "fact", [Fact("person.birth_date", 0, "1950-01-01"), Fact("person.sex", 0, "M")], ids=["birth date", "sex"]
)
def test_a_record_contradicting_the_number_is_another_persons(fact: Fact) -> None:
    with pytest.raises(RecordMismatch) as raised:
        check_record_identity(QUERY, _result(fact))
    assert WOMAN not in str(raised.value) and str(fact.value) not in str(raised.value)


def test_facts_the_number_says_nothing_about_are_not_checked() -> None:
    check_record_identity(
        QUERY, _result(Fact("person.registered", 0, False), Fact("person.birth_date", 5, "2000-01-01"))
    )
