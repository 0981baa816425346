"""Pydantic field types for what outside callers send, and the one translation of their validation errors.

Every body model of the API builds on these, so that the ASCII-only identifier rules (GB 11643, GB/T 2260),
the 64-bit bound on integers and the refusal of identity numbers in free text hold in one place, and a
validation error becomes the problem whose ``code`` says what was wrong, never echoing what was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import PydanticCustomError

from gateway.errors import InvalidIdNumber, InvalidInput, InvalidRegion, PersonalDataInText
from gateway.ids.gb11643 import contains_id_number, parse_id_number
from gateway.ids.member import validate_region

# PostgreSQL BIGINT and SQLite INTEGER are signed 64-bit: a larger integer from outside must be refused at the
# boundary, not overflow in the driver.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _id_number(value: str) -> str:
    try:
        return parse_id_number(value).value
    except InvalidIdNumber as exc:
        raise PydanticCustomError("invalid_id_number", exc.detail) from None


def _region(value: str) -> str:
    try:
        return validate_region(value)
    except InvalidRegion as exc:
        raise PydanticCustomError("invalid_region", exc.detail) from None


def _free_text(value: str) -> str:
    if contains_id_number(value):
        raise PydanticCustomError(
            "personal_data_in_text", "free text may not hold an identity number (an 18-character GB 11643 token)"
        )
    return value


# repr=False: a model's repr (in a log line, an assertion message) must not show the number.
IdNumberField = Annotated[str, Field(min_length=1, max_length=32, repr=False), AfterValidator(_id_number)]
"""A GB 11643 identity number, validated and normalised (x -> X)."""
RegionField = Annotated[str, AfterValidator(_region)]
"""A GB/T 2260 division code: six ASCII digits."""
FreeText = AfterValidator(_free_text)
"""Add to any stored free-text field: ``Annotated[str, Field(max_length=...), FreeText]``."""
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]

_Model = TypeVar("_Model", bound=BaseModel)
_CODED_ERRORS: Mapping[str, type[InvalidInput]] = {
    "invalid_id_number": InvalidIdNumber,
    "invalid_region": InvalidRegion,
    "personal_data_in_text": PersonalDataInText,
}


def parse_model(model: type[_Model], body: Any, what: str = "the request body is not valid") -> _Model:
    """Validate ``body``; raise the coded error of the first coded failure (:class:`InvalidIdNumber`,
    :class:`InvalidRegion`, :class:`PersonalDataInText`), else :class:`InvalidInput` with ``what``.

    ``errors`` lists field locations and messages, never the values sent.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_problem(exc, what) from None


def validation_problem(exc: ValidationError, what: str) -> InvalidInput:
    """The problem for a pydantic error (raise it ``from None``: pydantic's message quotes the input)."""
    details = exc.errors(include_url=False, include_input=False, include_context=False)
    errors = [{"loc": list(error["loc"]), "msg": error["msg"]} for error in details]
    coded = next((error for error in details if error["type"] in _CODED_ERRORS), None)
    if coded is not None:
        return _CODED_ERRORS[coded["type"]](coded["msg"], errors=errors)
    return InvalidInput(what, errors=errors)
