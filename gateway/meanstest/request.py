"""The verification request body (docs/architecture.md §6), validated without ever echoing what the caller sent."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from gateway.errors import InvalidIdNumber, InvalidInput
from gateway.ids import parse_id_number
from gateway.ids.fields import FreeText, RegionField, parse_model
from gateway.plugins import plugin_categories

BuiltInCategory = Literal["hukou", "civil_affairs", "tax", "housing", "banking"]
CATEGORIES: tuple[str, ...] = get_args(BuiltInCategory)  # what a request asks when it names no categories


def _known_category(value: str) -> str:
    known = (*CATEGORIES, *plugin_categories())
    if value not in known:
        raise ValueError(f"a category is one of: {', '.join(known)}")
    return value


# A built-in category, or one an installed adapter plugin brings (gateway.plugins), asked for by name.
Category = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$"), AfterValidator(_known_category)]
# Patterns here run on pydantic-core's Rust regex engine, where `$` is the end of the text (no trailing newline,
# unlike Python's re) and the classes are ASCII ranges; FreeText refuses an identity number hidden in an id.
CaseId = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$"), FreeText]
OperatorId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"), FreeText]
Relation = Literal["self", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"]


class HouseholdMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # repr=False: a model printed in a traceback or log line must not show who it is about.
    id_number: str = Field(min_length=1, max_length=32, repr=False)
    name: str = Field(min_length=1, max_length=64, repr=False)
    relation: Relation


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: CaseId
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)
    region: RegionField
    # A staff identifier, never a name: it goes into the audit log (docs/architecture.md §9 keeps personal data out).
    operator: OperatorId
    household: list[HouseholdMember] = Field(min_length=1, max_length=30)
    categories: list[Category] = Field(default_factory=lambda: list(CATEGORIES), min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("categories must not repeat")
        return value


def parse_verification_request(body: dict[str, Any]) -> VerificationRequest:
    """Validate the body's shape; raises :class:`InvalidInput` (or its coded subclasses) with field locations
    and messages (never the values). Identity numbers are checked by :func:`validate_household`, after
    authorisation."""
    return parse_model(VerificationRequest, body, "the verification request is not valid")


def validate_household(request: VerificationRequest) -> VerificationRequest:
    """Check every identity number per GB 11643 and normalise it (x -> X).

    Raises :class:`InvalidIdNumber` naming the household position (never the number).
    """
    members = []
    for index, member in enumerate(request.household):
        try:
            normalised = parse_id_number(member.id_number).value
        except InvalidIdNumber as exc:
            raise InvalidIdNumber(f"household member {index}: {exc.detail}", member_index=index) from None
        members.append(member.model_copy(update={"id_number": normalised}))
    if len({member.id_number for member in members}) != len(members):
        raise InvalidInput("a household member is listed twice")
    return request.model_copy(update={"household": members})
