"""Audit entries (docs/architecture.md §9): one pydantic model per entry type, and their canonical bytes (RFC 8785).

An entry says who (member and operator) did what (type, purpose, categories, outcome) to whom (``subject_refs``:
HMAC-SHA256 of identity numbers, never the numbers) and when, with digests of the messages involved. Its
leaf in the Merkle tree is ``SHA-256(0x00 || JCS(entry))``.

Nothing personal can be logged by mistake: every model forbids unknown fields, every free-form string is
limited to a printable-ASCII identifier alphabet (so no names in Chinese script), and any string holding a
run of 15 or more digits (a resident identity number of either generation, a bank card or account number)
is refused, except 64-hex digests and member ids, which are validated as such. Validation errors name the
offending fields, never their values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from gateway import canonical_json
from gateway.errors import AuditEntryInvalid, InvalidMemberId, PersonalDataInAuditEntry
from gateway.ids import MemberId, validate_id_number
from gateway.ids.subject import subject_ref as hmac_subject_ref

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
# Deliberately Unicode-wide (`\d`): a detector refuses digits of every script, unlike a validator.
_DIGIT_RUN = re.compile(r"\d{15,}")
_LOC_PART = re.compile(r"^[a-z_.]{1,40}$")


def subject_ref(pepper: bytes, id_number: str) -> str:
    """:func:`gateway.ids.subject_ref` of the number after GB 11643 validation and normalisation.

    Raises :class:`~gateway.errors.InvalidIdNumber` for a number that fails it.
    """
    return hmac_subject_ref(pepper, validate_id_number(id_number))


def _member_id(value: str) -> str:
    try:
        return str(MemberId.parse(value))
    except InvalidMemberId as exc:
        raise ValueError("not a member id") from exc


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


Digest = Annotated[str, StringConstraints(pattern=_DIGEST.pattern)]
"""A SHA-256 or HMAC-SHA256 value, lowercase hex."""
Member = Annotated[str, AfterValidator(_member_id)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
"""Purposes, categories, adapters, outcomes, problem codes: lowercase identifiers."""
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.:/-]{0,127}$")]
"""Case, verification, consent and enrollment ids, staff ids, key ids (RFC 7638 thumbprints are base64url,
so '-' and '_' may come anywhere)."""
Region = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{5}$")]
CallbackUrl = Annotated[str, StringConstraints(pattern=r"^https?://[\x21-\x7e]{1,2040}$")]
Time = Annotated[AwareDatetime, AfterValidator(_utc)]
SubjectRefs = Annotated[tuple[Digest, ...], Field(min_length=1, max_length=64)]
Codes = Annotated[tuple[Code, ...], Field(max_length=32)]


class _Strict(BaseModel):
    """Unknown fields are errors, and errors name fields, never values (``hide_input_in_errors`` keeps them
    out of the chained pydantic error too)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _invalid(exc) from exc


class _Entry(_Strict):
    """Fields every entry carries: when, which member, which of its staff."""

    time: Time = Field(default_factory=_now)
    actor: Member
    operator: Identifier | None = None

    @model_validator(mode="after")
    def _no_raw_personal_data(self) -> _Entry:
        for path, text in _strings(self.model_dump(mode="json")):
            if _DIGIT_RUN.search(text) and not (_DIGEST.match(text) or _is_member_id(text)):
                raise PersonalDataInAuditEntry(
                    f"{path} holds a run of 15 or more digits (an identity, card or account number?)", field=path
                )
        return self


class _AboutVerification(_Entry):
    """What every entry of an accepted verification names: which case, why, about whom, which data."""

    verification_id: Identifier
    case_id: Identifier
    purpose: Code
    region: Region
    subject_refs: SubjectRefs
    categories: Codes


class VerificationRequested(_AboutVerification):
    """Written, and committed, before any agency is contacted (docs/architecture.md §6)."""

    type: Literal["verification.requested"] = "verification.requested"
    consent_ids: tuple[Identifier, ...] = ()
    request_digest: Digest
    outcome: Literal["accepted"] = "accepted"


class VerificationCompleted(_AboutVerification):
    type: Literal["verification.completed"] = "verification.completed"
    outcome: Literal["complete", "partial"]
    recommendation: Literal["eligible", "ineligible", "review"] | None = None
    report_digest: Digest
    response_digest: Digest | None = None


class VerificationAbandoned(_AboutVerification):
    """A verification whose ``requested`` entry will never get a ``completed`` one: its process died
    mid-way, so the log says what became of it; no report of it was stored or released. ``reason``:
    ``worker_lost`` (a batch attempt, closed by the batch service) or ``not_completed`` (closed by the hub's
    sweeper, which also gives ``requested_leaf``, the leaf of the ``verification.requested`` entry)."""

    type: Literal["verification.abandoned"] = "verification.abandoned"
    reason: Code
    requested_leaf: NonNegativeInt | None = None
    outcome: Literal["abandoned"] = "abandoned"


class VerificationRejected(_Entry):
    """A request refused after its sender was identified; ``reason`` is the problem ``code``."""

    type: Literal["verification.rejected"] = "verification.rejected"
    verification_id: Identifier | None = None
    case_id: Identifier | None = None
    purpose: Code | None = None
    region: Region | None = None
    subject_refs: tuple[Digest, ...] = ()
    categories: Codes = ()
    reason: Code
    request_digest: Digest | None = None
    outcome: Literal["rejected"] = "rejected"


class SourceQueried(_Entry):
    """One agency asked about some subjects for a verification; ``actor`` is the requesting member."""

    type: Literal["source.queried"] = "source.queried"
    verification_id: Identifier
    purpose: Code
    source: Code
    subject_refs: SubjectRefs
    categories: Codes
    outcome: Literal["ok", "error", "timeout", "unavailable"]
    latency_ms: NonNegativeInt | None = None
    # For an agency behind an edge node: the SHA-256 of the facts its attestation signs (hex), the value of
    # the edge's own ``edge.queried`` entry, so the two logs can be matched without opening any facts.
    facts_sha256: Digest | None = None


class EdgeQueried(_Entry):
    """An edge node's record of one query it received (docs/federation.md): answered with facts whose
    SHA-256 is ``facts_sha256`` (the attestation's ``facts_digest``, in hex), or refused or failed with the
    problem code ``reason``. ``actor`` is the hub that asked, or the edge itself when the sender is unknown."""

    type: Literal["edge.queried"] = "edge.queried"
    source: Code
    verification_id: Identifier | None = None
    purpose: Code | None = None
    subject_refs: tuple[Digest, ...] = ()
    request_digest: Digest
    facts_sha256: Digest | None = None
    reason: Code | None = None
    outcome: Literal["answered", "refused", "failed"]


class ConsentGranted(_Entry):
    type: Literal["consent.granted"] = "consent.granted"
    consent_id: Identifier
    subject_refs: SubjectRefs
    grantee: str
    purposes: Annotated[tuple[Code, ...], Field(min_length=1, max_length=32)]
    categories: Codes
    collection_method: Literal["signed_form", "e_signature", "guardian"]
    evidence_digest: Digest
    valid_from: date
    valid_until: date
    outcome: Literal["granted"] = "granted"

    @model_validator(mode="after")
    def _grantee_is_member_or_region(self) -> ConsentGranted:
        if not (re.fullmatch(r"[1-9][0-9]{5}", self.grantee) or _is_member_id(self.grantee)):
            raise AuditEntryInvalid("grantee must be a member id or a region", fields=["grantee"])
        return self


class ConsentRevoked(_Entry):
    type: Literal["consent.revoked"] = "consent.revoked"
    consent_id: Identifier
    subject_refs: SubjectRefs
    reason: Code
    outcome: Literal["revoked"] = "revoked"


class RegistryEnrollment(_Entry):
    type: Literal["registry.enrollment"] = "registry.enrollment"
    enrollment_id: Identifier
    subject_refs: SubjectRefs
    programme: Code
    region: Region
    outcome: Literal["enrolled", "ended", "duplicate_flagged"]


class AuditQuery(_Strict):
    """What an auditor asked for: the filters of a search or the range of a listing."""

    member: Member | None = None
    purpose: Code | None = None
    types: Codes = ()
    since: Time | None = None
    until: Time | None = None
    by_subject: bool = False
    start: NonNegativeInt | None = None
    end: NonNegativeInt | None = None


class AuditViewed(_Entry):
    """Auditors are audited too. A look-up by person carries that person's ``subject_refs``, so it appears in
    their own subject access report."""

    type: Literal["audit.viewed"] = "audit.viewed"
    view: Literal[
        "entries",
        "search",
        "subject_report",
        "checkpoint",
        "inclusion_proof",
        "consistency_proof",
        "dashboard",  # the auditor console's charts
        "alerts",  # the console's misuse alerts
    ]
    query: AuditQuery
    subject_refs: tuple[Digest, ...] = ()
    result_count: NonNegativeInt
    outcome: Literal["shown"] = "shown"


class KeyRotated(_Entry):
    type: Literal["key.rotated"] = "key.rotated"
    key: Literal["signing", "encryption", "log", "storage", "subject_pepper"]
    old_kid: Identifier | None = None
    new_kid: Identifier | None = None
    outcome: Literal["rotated"] = "rotated"


class MemberChanged(_Entry):
    type: Literal["member.changed"] = "member.changed"
    member_id: Member
    change: Literal["added", "keys_added", "keys_retired", "role_changed", "removed", "callback_changed"]
    role: Code | None = None
    region: Region | None = None
    kids: tuple[Identifier, ...] = ()
    callback_url: CallbackUrl | None = None  # the URL registered by a callback_changed (absent: removed)
    outcome: Literal["applied"] = "applied"


class BatchChanged(_Entry):
    """A batch of re-verifications changed state (docs/batch.md); ``item_index`` and ``reason`` (a problem
    code) for an item that failed outside a verification, e.g. after its last attempt. The ``callback_*``
    changes are its completion notification: requested at creation, then each delivery attempt's outcome
    (``attempt``, and ``reason``: why it was not accepted)."""

    type: Literal["batch.changed"] = "batch.changed"
    batch_id: Identifier
    batch_ref: Identifier
    purpose: Code
    change: Literal[
        "created",
        "items_added",
        "closed",
        "cancelled",
        "item_failed",
        "callback_requested",
        "callback_delivered",
        "callback_attempt_failed",
        "callback_failed",
    ]
    item_count: NonNegativeInt | None = None
    item_index: NonNegativeInt | None = None
    attempt: PositiveInt | None = None
    reason: Code | None = None
    outcome: Literal["applied"] = "applied"


class ConsoleUserAdded(_Entry):
    """A console account was created (``hedui console add-user``, or the sandbox's own)."""

    type: Literal["console.user_added"] = "console.user_added"
    account: Code
    role: Code
    # "oidc": the account signs in through the identity provider; absent: with a password.
    sign_in: Literal["oidc"] | None = None
    outcome: Literal["applied"] = "applied"


class ConsoleLocked(_Entry):
    """A console account locked after repeated failed sign-ins (the account name, never the password tried)."""

    type: Literal["console.locked"] = "console.locked"
    account: Code
    failures: NonNegativeInt
    locked_until: Time
    outcome: Literal["locked"] = "locked"


class AlertAcknowledged(_Entry):
    """An auditor acknowledged a misuse alert in the console."""

    type: Literal["alert.acknowledged"] = "alert.acknowledged"
    alert_id: Identifier
    rule: Code
    outcome: Literal["acknowledged"] = "acknowledged"


class WatchListChanged(_Entry):
    """An auditor put a person on the misuse watch list (``subject_refs``: that person)."""

    type: Literal["watchlist.changed"] = "watchlist.changed"
    subject_refs: SubjectRefs
    change: Literal["added", "removed"]
    outcome: Literal["applied"] = "applied"


AuditEntry = Annotated[
    VerificationRequested
    | VerificationCompleted
    | VerificationAbandoned
    | VerificationRejected
    | SourceQueried
    | EdgeQueried
    | ConsentGranted
    | ConsentRevoked
    | RegistryEnrollment
    | AuditViewed
    | KeyRotated
    | MemberChanged
    | VerificationAbandoned
    | BatchChanged
    | ConsoleUserAdded
    | ConsoleLocked
    | AlertAcknowledged
    | WatchListChanged,
    Field(discriminator="type"),
]
ENTRY_TYPES = (
    "verification.requested",
    "verification.completed",
    "verification.abandoned",
    "verification.rejected",
    "source.queried",
    "edge.queried",
    "consent.granted",
    "consent.revoked",
    "registry.enrollment",
    "audit.viewed",
    "key.rotated",
    "member.changed",
    "verification.abandoned",
    "batch.changed",
    "console.user_added",
    "console.locked",
    "alert.acknowledged",
    "watchlist.changed",
)
_ADAPTER: TypeAdapter[AuditEntry] = TypeAdapter(AuditEntry)


def parse_entry(data: Mapping[str, Any] | bytes) -> AuditEntry:
    """An entry from its JSON (bytes) or parsed JSON; :class:`AuditEntryInvalid` if it fits no type."""
    try:
        if isinstance(data, bytes):
            return _ADAPTER.validate_json(data)
        return _ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        raise _invalid(exc) from exc


def canonical_entry(entry: AuditEntry) -> bytes:
    """RFC 8785 (JCS) bytes of the entry: the input of its leaf hash. Absent optional fields are left out."""
    return canonical_json.dumps(entry.model_dump(mode="json", exclude_none=True))


def _is_member_id(text: str) -> bool:
    try:
        MemberId.parse(text)
    except InvalidMemberId:
        return False
    return True


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string and integer in a JSON value, with its path (keys and list positions)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _strings(item, f"{path}[{position}]")
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path, str(value)


def _invalid(exc: ValidationError) -> AuditEntryInvalid:
    # Field paths only: pydantic's messages and inputs may quote the values, which may be personal data.
    fields = sorted(
        {
            ".".join(str(part) if isinstance(part, int) or _LOC_PART.match(str(part)) else "?" for part in error["loc"])
            or "type"  # only the discriminator fails for the entry as a whole
            for error in exc.errors(include_input=False)
        }
    )
    return AuditEntryInvalid(f"invalid or missing fields: {', '.join(fields)}", fields=fields)
