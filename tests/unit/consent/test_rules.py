"""The registration rules: identity numbers, guardians for minors, validity defaults (docs/architecture.md §8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from gateway.consent import ConsentRegistration, check_terms, parse_body
from gateway.consent.rules import CHINA_STANDARD_TIME, months_after
from gateway.errors import InvalidIdNumber, InvalidInput, PersonalDataInText

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import ConsentKit


def test_an_adult_signing_a_form_passes_with_twelve_months_validity(kit: ConsentKit) -> None:
    registration = kit.registration(signed_at=datetime(2026, 3, 15, 10, 30, tzinfo=CHINA_STANDARD_TIME))
    terms = check_terms(registration, now=datetime(2026, 3, 16, tzinfo=UTC))
    assert terms.signed_at == datetime(2026, 3, 15, 2, 30, tzinfo=UTC)
    assert terms.valid_from == terms.signed_at
    assert terms.valid_until == datetime(2027, 3, 15, 2, 30, tzinfo=UTC)
    assert terms.guardian is None
    assert terms.subject.value == registration.id_number


@pytest.mark.parametrize(
    ("signed_cst", "until_cst"),
    [
        (datetime(2028, 2, 29, 9, 0), datetime(2029, 2, 28, 9, 0)),  # no 29 Feb next year
        (datetime(2026, 1, 31, 23, 0), datetime(2027, 1, 31, 23, 0)),
        (datetime(2026, 12, 31, 23, 30), datetime(2027, 12, 31, 23, 30)),  # still 2026 in CST, 15:30 UTC
    ],
)
def test_twelve_months_are_counted_on_the_china_calendar(signed_cst: datetime, until_cst: datetime) -> None:
    signed = signed_cst.replace(tzinfo=CHINA_STANDARD_TIME)
    assert months_after(signed, 12) == until_cst.replace(tzinfo=CHINA_STANDARD_TIME)
    assert months_after(datetime(2026, 1, 31, 12, tzinfo=CHINA_STANDARD_TIME), 1).day == 28


def test_explicit_validity_is_kept(kit: ConsentKit) -> None:
    valid_from = kit.now + timedelta(days=2)
    valid_until = kit.now + timedelta(days=90)
    terms = check_terms(kit.registration(valid_from=valid_from, valid_until=valid_until), now=kit.now)
    assert (terms.valid_from, terms.valid_until) == (valid_from, valid_until)


def test_a_minor_needs_a_guardian(kit: ConsentKit) -> None:
    child = kit.id_number(17, sequence=201)
    with pytest.raises(InvalidInput) as caught:
        check_terms(kit.registration(id_number=child), now=kit.now)
    assert caught.value.extensions["field"] == "collection_method"
    assert child not in caught.value.detail

    terms = check_terms(
        kit.registration(
            id_number=child,
            collection_method="guardian",
            guardian={"id_number": kit.id_number(45, sequence=301), "relation": "parent"},
        ),
        now=kit.now,
    )
    assert terms.guardian is not None and terms.guardian.value == kit.id_number(45, sequence=301)


def test_eighteen_at_signing_is_an_adult(kit: ConsentKit) -> None:
    assert check_terms(kit.registration(id_number=kit.id_number(18)), now=kit.now).guardian is None


def test_an_adult_without_capacity_may_be_represented_by_a_guardian(kit: ConsentKit) -> None:
    terms = check_terms(
        kit.registration(
            id_number=kit.id_number(70),
            collection_method="guardian",
            guardian={"id_number": kit.id_number(44, sequence=302), "relation": "child"},
        ),
        now=kit.now,
    )
    assert terms.guardian is not None


@pytest.mark.parametrize(
    ("guardian_age", "guardian_sequence", "relation", "field", "message"),
    [
        (17, 303, "sibling", "guardian.id_number", "18 or older"),
        (8, 123, "parent", "guardian.id_number", "another person"),  # the subject itself
    ],
)
def test_guardian_rules(
    kit: ConsentKit, guardian_age: int, guardian_sequence: int, relation: str, field: str, message: str
) -> None:
    subject = kit.id_number(8, sequence=123)
    guardian = kit.id_number(guardian_age, sequence=guardian_sequence)
    with pytest.raises(InvalidInput) as caught:
        check_terms(
            kit.registration(
                id_number=subject,
                collection_method="guardian",
                guardian={"id_number": guardian, "relation": relation},
            ),
            now=kit.now,
        )
    assert caught.value.extensions["field"] == field
    assert message in caught.value.detail
    assert guardian not in caught.value.detail


def test_guardian_method_needs_the_guardian_and_other_methods_refuse_one(kit: ConsentKit) -> None:
    with pytest.raises(InvalidInput) as missing:
        check_terms(kit.registration(collection_method="guardian"), now=kit.now)
    assert missing.value.extensions["field"] == "guardian"
    guardian = {"id_number": kit.id_number(50, sequence=305), "relation": "spouse"}
    with pytest.raises(InvalidInput) as extra:
        check_terms(kit.registration(collection_method="e_signature", guardian=guardian), now=kit.now)
    assert extra.value.extensions["field"] == "guardian"


def test_an_invalid_guardian_number_is_reported_without_echo(kit: ConsentKit) -> None:
    good = kit.id_number(45, sequence=301)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidIdNumber) as caught:
        check_terms(
            kit.registration(
                id_number=kit.id_number(9),
                collection_method="guardian",
                guardian={"id_number": bad, "relation": "parent"},
            ),
            now=kit.now,
        )
    assert caught.value.extensions["field"] == "guardian.id_number"
    assert bad not in caught.value.detail


def test_an_invalid_subject_number_is_reported_without_echo(kit: ConsentKit) -> None:
    good = kit.id_number(40)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidIdNumber) as caught:
        check_terms(kit.registration(id_number=bad), now=kit.now)
    assert caught.value.extensions["field"] == "id_number"
    assert bad not in str(caught.value)


def test_a_lowercase_x_is_normalised(kit: ConsentKit) -> None:
    sequence = next(s for s in range(100, 999) if kit.id_number(40, sequence=s).endswith("X"))
    number = kit.id_number(40, sequence=sequence)
    assert check_terms(kit.registration(id_number=number.lower()), now=kit.now).subject.value == number


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"signed_at_offset": timedelta(hours=1)}, "signed_at"),
        ({"valid_from_offset": timedelta(days=-2)}, "valid_from"),
        ({"valid_until_offset": timedelta(days=-1, hours=12)}, "valid_until"),  # before valid_from
        ({"signed_at_offset": timedelta(days=-400)}, "valid_until"),  # already expired by default
    ],
)
def test_time_rules(kit: ConsentKit, changes: dict[str, timedelta], field: str) -> None:
    signed_at = kit.now + changes.get("signed_at_offset", timedelta(days=-1))
    body = {"signed_at": signed_at}
    if "valid_from_offset" in changes:
        body["valid_from"] = signed_at + changes["valid_from_offset"]
    if "valid_until_offset" in changes:
        body["valid_until"] = signed_at + changes["valid_until_offset"]
    with pytest.raises(InvalidInput) as caught:
        check_terms(kit.registration(**body), now=kit.now)
    assert caught.value.extensions["field"] == field


def test_a_form_cannot_be_signed_before_the_subject_was_born(kit: ConsentKit) -> None:
    newborn = kit.id_number(0)
    with pytest.raises(InvalidInput) as caught:
        check_terms(
            kit.registration(
                id_number=newborn,
                collection_method="guardian",
                guardian={"id_number": kit.id_number(30, sequence=301), "relation": "parent"},
                signed_at=kit.now - timedelta(days=60),
            ),
            now=kit.now,
        )
    assert caught.value.extensions["field"] == "signed_at"


def test_the_evidence_reference_must_not_carry_an_identity_number(kit: ConsentKit) -> None:
    number = kit.id_number(40)
    evidence = {"sha256": "cd" * 32, "ref": f"scans/{number}.pdf"}
    # Refused by the body's schema already (any identity number, not only the subject's: issue 11 defect 5).
    with pytest.raises(PersonalDataInText) as caught:
        parse_body(ConsentRegistration, kit.body(id_number=number, evidence=evidence))
    assert caught.value.extensions["errors"][0]["loc"] == ["evidence", "ref"]
    assert number not in caught.value.detail
    assert number not in str(caught.value.extensions)


def test_terms_repr_masks_the_numbers(kit: ConsentKit) -> None:
    number = kit.id_number(40)
    terms = check_terms(kit.registration(id_number=number), now=kit.now)
    assert number not in repr(terms)
    assert number not in repr(kit.registration(id_number=number))
