"""Request and response bodies of ``/v1/consents`` (docs/architecture.md §8), validated without echoing what was sent.

Field names follow ISO/IEC TS 27560 and the Kantara Consent Receipt v1.1 where those name the same thing
(``subject_ref``, ``controller``, ``purposes``, ``categories``, ``legal_basis``, ``collection_method``).
The identity numbers of the subject and of a guardian come in (inside the envelope) and never go out: every
response names people by ``subject_ref`` / ``guardian.ref`` only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from gateway.errors import InvalidMemberId, InvalidRegion
from gateway.ids import MemberId, validate_region
from gateway.ids.fields import FreeText, parse_model
from gateway.meanstest.request import Category

CollectionMethod = Literal["signed_form", "e_signature", "guardian"]
# PIPL Art. 13(1): the individual's consent; Art. 13(3): necessary for a statutory duty (the assistance
# rules oblige the civil-affairs office to verify), recorded so that an auditor sees what the check relied on.
LegalBasis = Literal["consent", "legal_obligation"]
# Civil Code Art. 27 (guardians of minors) and Art. 28 (of adults without full capacity); "appointed" covers
# guardians designated by a residents' committee, civil-affairs department or court (Art. 31-32).
GuardianRelation = Literal["parent", "grandparent", "sibling", "spouse", "child", "other_relative", "appointed"]
ConsentStatus = Literal["active", "revoked", "expired"]

PURPOSE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
_PURPOSE = re.compile(PURPOSE_PATTERN)
_MAX_PURPOSES = 16

_Model = TypeVar("_Model", bound=BaseModel)


class Evidence(BaseModel):
    """The signed, fingerprinted 授权书 stays with the local MIS; the hub keeps its digest and reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the scan, hex")
    ref: Annotated[str, FreeText] = Field(
        min_length=1, max_length=256, description="where the local MIS keeps the scan; never an identity number"
    )

    @field_validator("sha256")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class GuardianIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id_number: str = Field(min_length=1, max_length=32, repr=False)
    relation: GuardianRelation


class ConsentRegistration(BaseModel):
    """One person's consent (``POST /v1/consents`` registers one per household member)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_number: str = Field(min_length=1, max_length=32, repr=False)
    grantee: str = Field(description="member id, or a 6-digit region for every member of that region")
    purposes: list[str] = Field(min_length=1, max_length=_MAX_PURPOSES)
    categories: list[Category] = Field(min_length=1)
    legal_basis: LegalBasis = "consent"
    collection_method: CollectionMethod
    evidence: Evidence
    signed_at: AwareDatetime
    valid_from: AwareDatetime | None = Field(None, description="default: signed_at")
    valid_until: AwareDatetime | None = Field(None, description="exclusive; default: 12 months after signed_at")
    guardian: GuardianIn | None = None

    @field_validator("grantee")
    @classmethod
    def _grantee(cls, value: str) -> str:
        if value.startswith("CN/"):
            try:
                return str(MemberId.parse(value))
            except InvalidMemberId as exc:
                raise ValueError(exc.detail) from None
        try:
            return validate_region(value)
        except InvalidRegion as exc:
            raise ValueError(f"not a member id; as a region: {exc.detail}") from None

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("purposes must not repeat")
        for purpose in value:
            if len(purpose) > 64 or not _PURPOSE.fullmatch(purpose):
                raise ValueError("a purpose is a dotted lowercase code such as dibao.application")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[Category]) -> list[Category]:
        if len(set(value)) != len(value):
            raise ValueError("categories must not repeat")
        return value


class ConsentBatch(BaseModel):
    """Several registrations stored together or not at all (a household, a file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consents: list[ConsentRegistration] = Field(min_length=1, max_length=30)


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[str, FreeText] = Field(min_length=1, max_length=500, description="why; no personal data")


class SearchRequest(BaseModel):
    """``POST /v1/consents/search``: the identity number travels inside the envelope, never in a URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_number: str = Field(min_length=1, max_length=32, repr=False)


class GuardianOut(BaseModel):
    ref: str = Field(description="HMAC-SHA256 of the guardian's identity number, like subject_ref")
    relation: GuardianRelation


class ConsentView(BaseModel):
    """A stored consent as its controller and grantee see it; ``status`` is evaluated when read."""

    consent_id: str
    subject_ref: str
    controller: str
    grantee: str
    purposes: list[str]
    categories: list[Category]
    legal_basis: LegalBasis
    collection_method: CollectionMethod
    evidence: Evidence
    guardian: GuardianOut | None
    signed_at: datetime
    valid_from: datetime
    valid_until: datetime
    status: ConsentStatus
    registered_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None
    receipt: str = Field(description="compact JWS, typ consent-receipt+jwt, signed by the hub")


class ConsentList(BaseModel):
    consents: list[ConsentView]


def parse_body(model: type[_Model], body: dict[str, Any]) -> _Model:
    """Validate a request body; :class:`InvalidInput` (or a coded subclass such as ``personal_data_in_text``)
    lists field locations and messages, never values."""
    return parse_model(model, body, "the consent request is not valid")
