"""The shared field types: ASCII identifiers, 64-bit integers, free text without identity numbers, and the
translation of validation errors into coded problems that never echo the input."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from gateway.errors import InvalidIdNumber, InvalidInput, InvalidRegion, PersonalDataInText
from gateway.ids.fields import FreeText, IdNumberField, Int64, RegionField, parse_model

NUMBER = "11010519491231002X"


class Body(BaseModel):
    id_number: IdNumberField = NUMBER
    region: RegionField = "110105"
    note: Annotated[str, Field(max_length=256), FreeText] = "-"
    count: Int64 = 0


def test_valid_values_pass_and_are_normalised() -> None:
    parsed = parse_model(Body, {"id_number": NUMBER.lower(), "region": "110105", "note": "ok", "count": 2**63 - 1})
    assert parsed.id_number == NUMBER


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"id_number": NUMBER + "\n"}, InvalidIdNumber),
        ({"region": "１１０１０５"}, InvalidRegion),
        ({"note": f"see {NUMBER}"}, PersonalDataInText),
        ({"note": "see １１０１０５１９４９１２３１００２X"}, PersonalDataInText),
        ({"count": 2**63}, InvalidInput),
        ({"count": -(2**63) - 1}, InvalidInput),
    ],
)
def test_each_failure_has_its_code_and_never_echoes_the_input(body: dict[str, object], error: type) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_model(Body, body)
    assert type(caught.value) is error
    shown = f"{caught.value.detail} {caught.value.extensions}"
    assert NUMBER not in shown
    assert "１１０１０５" not in shown
