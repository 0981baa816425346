"""Request and response bodies of the registry endpoints (inside the envelope's ``body`` claim).

``POST /v1/registry/enrollments`` takes :class:`EnrollmentCreate` and answers :class:`EnrollmentView`;
``POST /v1/registry/enrollments/{id}/end`` takes :class:`EnrollmentEnd` and answers :class:`EnrollmentView`;
``POST /v1/registry/enrollments/search`` takes :class:`EnrollmentSearch` and answers :class:`EnrollmentList`.
Responses never carry the identity number: the caller already knows it, and a response may be logged.
The reporting member is the authenticated caller, never a body field, so no member can report for another.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from gateway.ids.fields import IdNumberField, RegionField, parse_model
from gateway.registry.duplicates import Programme

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


def parse_body(model: type[_Body], body: Any) -> _Body:
    """Validate a request body; identity numbers are checked per GB 11643 and normalised (x -> X).

    Raises :class:`InvalidIdNumber` or :class:`InvalidRegion` (their stable codes) when that is what is
    wrong, else :class:`InvalidInput`; with field locations and messages, never the values sent.
    """
    return parse_model(model, body)
