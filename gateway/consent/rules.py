"""The rules a consent must meet before it is stored (docs/architecture.md §8), as a pure function of the registration.

Dates that people write on forms are China Standard Time (UTC+08:00): ages, and the "12 months after
signing" default, are computed on the CST calendar. Everything returned is in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from gateway.consent.schema import ConsentRegistration
from gateway.errors import InvalidIdNumber, InvalidInput
from gateway.ids import IdNumber, parse_id_number

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
ADULT_AGE = 18  # Civil Code Art. 17: adults have full capacity from 18
DEFAULT_VALIDITY_MONTHS = 12
# A form signed a moment "in the future" by a clock a little ahead is accepted; more is an error.
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """A registration that passed every rule, with defaults resolved and times in UTC.

    ``subject`` and ``guardian`` are :class:`IdNumber`, whose repr is masked.
    """

    subject: IdNumber
    guardian: IdNumber | None
    registration: ConsentRegistration
    signed_at: datetime
    valid_from: datetime
    valid_until: datetime

    def __repr__(self) -> str:
        return f"ConsentTerms(subject={self.subject!r}, valid_until={self.valid_until.isoformat()})"


def age_on(birth: date, day: date) -> int:
    """Full years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def months_after(moment: datetime, months: int) -> datetime:
    """The same CST wall-clock time ``months`` calendar months later; a missing day (31st, 29 Feb) becomes
    the last day of that month."""
    local = moment.astimezone(CHINA_STANDARD_TIME)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = local.day
    while True:
        try:
            return local.replace(year=year, month=month, day=day).astimezone(UTC)
        except ValueError:
            day -= 1


def check_terms(registration: ConsentRegistration, *, now: datetime) -> ConsentTerms:
    """Apply the rules; raises :class:`InvalidIdNumber` or :class:`InvalidInput` with a ``field``
    extension naming the offending field, never its value."""
    subject = _id_number(registration.id_number, "id_number")
    signed_at = registration.signed_at.astimezone(UTC)
    signed_day = signed_at.astimezone(CHINA_STANDARD_TIME).date()
    if signed_at > now + _CLOCK_SKEW:
        raise InvalidInput("the consent is signed in the future", field="signed_at")
    if signed_day < subject.birth_date:
        raise InvalidInput("the consent is signed before the subject's birth date", field="signed_at")
    valid_from = signed_at if registration.valid_from is None else registration.valid_from.astimezone(UTC)
    if valid_from < signed_at:
        raise InvalidInput("a consent cannot take effect before it is signed", field="valid_from")
    valid_until = (
        months_after(signed_at, DEFAULT_VALIDITY_MONTHS)
        if registration.valid_until is None
        else registration.valid_until.astimezone(UTC)
    )
    if valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from", field="valid_until")
    if valid_until <= now:
        raise InvalidInput("the consent has already expired", field="valid_until")

    guardian = _guardian(registration, subject, signed_day)
    for person in (subject, guardian):
        if person is not None and person.value in registration.evidence.ref.upper():
            # The reference is stored and shown in clear: it must not carry an identity number.
            raise InvalidInput("the evidence reference must not contain an identity number", field="evidence.ref")
    return ConsentTerms(
        subject=subject,
        guardian=guardian,
        registration=registration,
        signed_at=signed_at,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _guardian(registration: ConsentRegistration, subject: IdNumber, signed_day: date) -> IdNumber | None:
    minor = age_on(subject.birth_date, signed_day) < ADULT_AGE
    if registration.collection_method != "guardian":
        if minor:
            raise InvalidInput(
                "the subject is under 18 at signing: collection_method must be guardian", field="collection_method"
            )
        if registration.guardian is not None:
            raise InvalidInput("a guardian is named only when collection_method is guardian", field="guardian")
        return None
    if registration.guardian is None:
        raise InvalidInput("collection_method guardian requires the guardian's identity number", field="guardian")
    guardian = _id_number(registration.guardian.id_number, "guardian.id_number")
    if guardian.value == subject.value:
        raise InvalidInput("the guardian must be another person than the subject", field="guardian.id_number")
    if age_on(guardian.birth_date, signed_day) < ADULT_AGE:
        raise InvalidInput("the guardian must be 18 or older at signing", field="guardian.id_number")
    return guardian


def _id_number(raw: str, field: str) -> IdNumber:
    try:
        return parse_id_number(raw)
    except InvalidIdNumber as exc:
        raise InvalidIdNumber(exc.detail, field=field) from None
