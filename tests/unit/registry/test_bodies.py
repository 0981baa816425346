from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.errors import InvalidIdNumber, InvalidInput, InvalidRegion
from gateway.registry.bodies import EnrollmentCreate, EnrollmentSearch, EnrollmentView, parse_body

VALID_ID = "11010519491231002X"
BAD_CHECK = "110105194912310021"


def create(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id_number": VALID_ID.lower(),
        "programme": "dibao",
        "region": "110101",
        "start": "2026-01-01",
        "monthly_amount": 600.5,
    }
    body.update(changes)
    return body


def test_valid_body_is_normalised() -> None:
    parsed = parse_body(EnrollmentCreate, create())
    assert parsed.id_number == VALID_ID
    assert parsed.start == date(2026, 1, 1)
    assert parsed.end is None
    assert parsed.monthly_amount == Decimal("600.5")


def test_repr_does_not_show_the_identity_number() -> None:
    parsed = parse_body(EnrollmentCreate, create())
    assert VALID_ID not in repr(parsed) and VALID_ID not in str(parsed)
    assert VALID_ID not in repr(parse_body(EnrollmentSearch, {"id_number": VALID_ID}))


def test_bad_identity_number_has_its_code_and_is_not_echoed() -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_body(EnrollmentCreate, create(id_number=BAD_CHECK))
    assert "check character" in caught.value.detail
    assert BAD_CHECK not in caught.value.detail
    assert BAD_CHECK not in json.dumps(caught.value.extensions)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_search_validates_the_identity_number_too() -> None:
    with pytest.raises(InvalidIdNumber):
        parse_body(EnrollmentSearch, {"id_number": BAD_CHECK})


def test_bad_region_has_its_code() -> None:
    with pytest.raises(InvalidRegion):
        parse_body(EnrollmentCreate, create(region="011010"))


@pytest.mark.parametrize(
    "changes",
    [
        {"programme": "pension"},
        {"end": "2025-12-31"},  # before start
        {"monthly_amount": -1},
        {"monthly_amount": "12.345"},  # below one fen
        {"monthly_amount": "NaN"},
        {"start": "2026-02-30"},
        {"member": "CN/GOV/11110101MB12345677/dibao-mis"},  # the member is the caller, never a body field
    ],
)
def test_invalid_bodies(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_body(EnrollmentCreate, create(**changes))
    assert type(caught.value) is InvalidInput
    assert caught.value.extensions["errors"]
    assert VALID_ID.lower() not in json.dumps(caught.value.extensions)


def test_missing_fields_are_listed_by_location() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_body(EnrollmentCreate, {"id_number": VALID_ID})
    locations = {tuple(error["loc"]) for error in caught.value.extensions["errors"]}
    assert locations == {("programme",), ("region",), ("start",), ("monthly_amount",)}


def test_view_renders_amounts_as_json_numbers() -> None:
    view = EnrollmentView(
        enrollment_id="e1",
        subject_ref="0" * 64,
        programme="dibao",
        region="110101",
        member="CN/GOV/11110101MB12345677/dibao-mis",
        start=date(2026, 1, 1),
        end=None,
        monthly_amount=Decimal("600.50"),
        recorded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        ended_at=None,
    )
    rendered = view.model_dump(mode="json")
    assert rendered["monthly_amount"] == 600.5
    assert rendered["start"] == "2026-01-01"
    assert rendered["end"] is None
