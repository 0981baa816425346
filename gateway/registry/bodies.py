"""Request and response bodies of the registry endpoints (inside the envelope's ``body`` claim).

``POST /v1/registry/enrollments`` takes :class:`EnrollmentCreate` and answers :class:`EnrollmentView`;
``POST /v1/registry/enrollments/{id}/end`` takes :class:`EnrollmentEnd` and answers :class:`EnrollmentView`;
``POST /v1/registry/enrollments/search`` takes :class:`EnrollmentSearch` and answers :class:`EnrollmentList`.
Responses never carry the identity number: the caller already knows it, and a response may be logged.
The reporting member is the authenticated caller, never a body field, so no member can report for another.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from gateway.errors import InvalidIdNumber, InvalidInput, InvalidRegion
from gateway.ids import parse_id_number, validate_region
from gateway.registry.duplicates import Programme


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


# repr=False: a model's repr (in a log line, an assertion message) must not show the number.
IdNumberField = Annotated[str, Field(min_length=1, max_length=32, repr=False), AfterValidator(_id_number)]
RegionField = Annotated[str, Field(min_length=6, max_length=6), AfterValidator(_region)]
# Yuan with fen precision; a JSON number on the wire, like every amount of the report.
Yuan = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class EnrollmentCreate(BaseModel):
    """A person receives ``programme`` in ``region`` from ``start`` (to ``end``, inclusive, when known)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_number: IdNumberField
    programme: Programme
    region: RegionField
    start: date
    end: date | None = None
    monthly_amount: Yuan

    @model_validator(mode="after")
    def _period(self) -> EnrollmentCreate:
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class EnrollmentEnd(BaseModel):
    """The last day of assistance (inclusive); may lie in the future when the end is already decided."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    end: date


class EnrollmentSearch(BaseModel):
    """Every enrollment of one person, or only those active on ``active_on``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_number: IdNumberField
    active_on: date | None = None


class EnrollmentView(BaseModel):
    model_config = ConfigDict(frozen=True)

    enrollment_id: str
    subject_ref: str  # HMAC-SHA256 of the identity number (docs/architecture.md §3); the number itself never goes out
    programme: Programme
    region: str
    member: str  # the local MIS that reported it, and the only member that may end it
    start: date
    end: date | None
    monthly_amount: Yuan
    recorded_at: datetime
    ended_at: datetime | None  # when the end was reported


class EnrollmentList(BaseModel):
    model_config = ConfigDict(frozen=True)

    enrollments: list[EnrollmentView]


_Body = TypeVar("_Body", bound=BaseModel)
_CODED_ERRORS: Mapping[str, type[InvalidInput]] = {
    "invalid_id_number": InvalidIdNumber,
    "invalid_region": InvalidRegion,
}


def parse_body(model: type[_Body], body: Any) -> _Body:
    """Validate a request body; identity numbers are checked per GB 11643 and normalised (x -> X).

    Raises :class:`InvalidIdNumber` or :class:`InvalidRegion` (their stable codes) when that is what is
    wrong, else :class:`InvalidInput`; with field locations and messages, never the values sent.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False, include_context=False)
        errors = [{"loc": list(error["loc"]), "msg": error["msg"]} for error in details]
        coded = next((error for error in details if error["type"] in _CODED_ERRORS), None)
        # "from None": pydantic's own message quotes the input, which may be an identity number.
        if coded is not None:
            raise _CODED_ERRORS[coded["type"]](coded["msg"], errors=errors) from None
        raise InvalidInput("the request body is not valid", errors=errors) from None
