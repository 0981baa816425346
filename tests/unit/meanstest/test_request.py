from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidIdNumber, InvalidInput
from gateway.meanstest.request import CATEGORIES, parse_verification_request, validate_household

VALID_ID = "11010519491231002X"


def body(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "case_id": "110101-2026-000123",
        "purpose": "dibao.application",
        "region": "110101",
        "operator": "staff-0042",
        "household": [{"id_number": VALID_ID.lower(), "name": "张三", "relation": "self"}],
    }
    request.update(changes)
    return request


def test_valid_request_is_normalised_with_default_categories() -> None:
    request = validate_household(parse_verification_request(body()))
    assert request.household[0].id_number == VALID_ID
    assert tuple(request.categories) == CATEGORIES


def test_bad_identity_number_names_the_position_not_the_number() -> None:
    bad = "110105194912310021"
    household = [
        {"id_number": VALID_ID, "name": "张三", "relation": "self"},
        {"id_number": bad, "name": "李四", "relation": "spouse"},
    ]
    with pytest.raises(InvalidIdNumber) as caught:
        validate_household(parse_verification_request(body(household=household)))
    assert caught.value.extensions["member_index"] == 1
    assert bad not in caught.value.detail and bad not in str(caught.value.extensions)


def test_schema_errors_do_not_echo_values() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_household(
            parse_verification_request(body(region="99", unknown_field="secret-value", categories=["tax", "tax"]))
        )
    text = str(caught.value.extensions)
    assert "secret-value" not in text
    assert {e["loc"][0] for e in caught.value.extensions["errors"]} >= {"region", "unknown_field"}


def test_duplicate_members_are_refused() -> None:
    member = {"id_number": VALID_ID, "name": "张三", "relation": "self"}
    with pytest.raises(InvalidInput, match="listed twice"):
        validate_household(parse_verification_request(body(household=[member, dict(member, relation="spouse")])))


def test_unknown_category_is_refused() -> None:
    with pytest.raises(InvalidInput):
        validate_household(parse_verification_request(body(categories=["hukou", "weather"])))
