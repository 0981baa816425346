"""The JSON shapes of the public-security answers (contracts/agencies/hukou/openapi.yaml)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from adapters.rest import AgencyAnswer, RecordId, SeqResult, WireModel

REGISTER_PATH = "/api/v1/household-register/query"
VEHICLES_PATH = "/api/v1/motor-vehicles/query"


class RegisterRecord(WireModel):
    """A person's entry in the household register (常住人口登记表).

    ``hukouId``, ``hukouRegion`` and ``relationCode`` are present exactly when the entry is NORMAL; a
    CANCELLED entry (户口注销: moved away, emigrated, ...) no longer belongs to any household.
    """

    recordId: RecordId
    registerStatus: Literal["NORMAL", "CANCELLED"]
    sexCode: Literal["0", "1", "2", "9"]  # GB/T 2261.1-2003
    birthDate: date
    hukouId: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{1,32}$")
    hukouRegion: str | None = Field(default=None, pattern=r"^[0-9]{6}$")  # GB/T 2260
    relationCode: str | None = Field(default=None, pattern=r"^[0-9]{2}$")  # GB/T 4761-2008 two-digit code

    @model_validator(mode="after")
    def _household_fields_match_status(self) -> RegisterRecord:
        present = [value is not None for value in (self.hukouId, self.hukouRegion, self.relationCode)]
        if self.registerStatus == "NORMAL" and not all(present):
            raise ValueError("a NORMAL entry names its hukouId, hukouRegion and relationCode")
        if self.registerStatus == "CANCELLED" and any(present):
            raise ValueError("a CANCELLED entry names no household")
        return self


class RegisterResult(SeqResult):
    found: bool
    person: RegisterRecord | None = None

    @model_validator(mode="after")
    def _person_iff_found(self) -> RegisterResult:
        if self.found != (self.person is not None):
            raise ValueError("person is present exactly when found is true")
        return self


class RegisterAnswer(AgencyAnswer[RegisterResult]):
    """Answer of the household-register query."""


class Vehicle(WireModel):
    recordId: RecordId
    plateNumber: str = Field(min_length=1, max_length=16)
    plateType: str = Field(pattern=r"^[0-9]{2}$")  # GA 24.7 号牌种类代码
    assessedValue: int | float = Field(ge=0, allow_inf_nan=False)


class VehicleResult(SeqResult):
    vehicles: list[Vehicle] = Field(max_length=100)


class VehicleAnswer(AgencyAnswer[VehicleResult]):
    """Answer of the motor-vehicle query: every vehicle registered to each person (none is an empty list)."""
