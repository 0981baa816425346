"""The consent check over stored grants: purposes, categories, revocation, expiry, household positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.consent import Grant, covering_consents
from gateway.errors import ConsentExpired, ConsentMissing, ConsentRevoked, Forbidden

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
ALL = frozenset({"hukou", "civil_affairs", "tax", "housing", "banking"})


def grant(consent_id: str, subject: str, **changes: Any) -> Grant:
    fields: dict[str, Any] = {
        "consent_id": consent_id,
        "subject_ref": subject,
        "purposes": frozenset({"dibao.application"}),
        "categories": ALL,
        "revoked": False,
        "signed_at": AT - timedelta(days=30),
        "valid_from": AT - timedelta(days=30),
        "valid_until": AT + timedelta(days=335),
    }
    fields.update(changes)
    return Grant(**fields)


def check(refs: list[str], grants: list[Grant], *, purpose: str = "dibao.application", categories: Any = ALL) -> Any:
    return covering_consents(refs, grants, purpose=purpose, categories=categories, at=AT)


def test_every_member_covered_returns_the_consents_in_household_order() -> None:
    grants = [grant("c-b", "ref-b"), grant("c-a", "ref-a"), grant("c-other", "ref-stranger")]
    assert check(["ref-a", "ref-b"], grants) == ("c-a", "c-b")


def test_the_longest_lasting_usable_consent_is_relied_on() -> None:
    grants = [
        grant("c-short", "ref-a", valid_until=AT + timedelta(days=10)),
        grant("c-long", "ref-a", valid_until=AT + timedelta(days=300)),
        grant("c-revoked", "ref-a", valid_until=AT + timedelta(days=900), revoked=True),
    ]
    assert check(["ref-a"], grants) == ("c-long",)


def test_a_missing_member_is_named_by_position() -> None:
    with pytest.raises(ConsentMissing) as caught:
        check(["ref-a", "ref-b", "ref-c"], [grant("c-a", "ref-a"), grant("c-c", "ref-c")])
    assert type(caught.value) is ConsentMissing
    assert (caught.value.status, caught.value.code) == (403, "consent_missing")
    assert caught.value.extensions["members"] == [{"index": 1, "reason": "consent_missing"}]
    assert isinstance(caught.value, Forbidden)


def test_a_consent_for_purpose_a_does_not_cover_purpose_b() -> None:
    grants = [grant("c-a", "ref-a", purposes=frozenset({"dibao.application"}))]
    assert check(["ref-a"], grants, purpose="dibao.application") == ("c-a",)
    with pytest.raises(ConsentMissing) as caught:
        check(["ref-a"], grants, purpose="tekun.application")
    assert caught.value.code == "consent_missing"


def test_a_consent_for_tax_does_not_cover_banking() -> None:
    grants = [grant("c-a", "ref-a", categories=frozenset({"tax"}))]
    assert check(["ref-a"], grants, categories={"tax"}) == ("c-a",)
    with pytest.raises(ConsentMissing):
        check(["ref-a"], grants, categories={"banking"})
    with pytest.raises(ConsentMissing):
        check(["ref-a"], grants, categories={"tax", "banking"})


def test_categories_are_not_pooled_across_consents() -> None:
    grants = [
        grant("c-tax", "ref-a", categories=frozenset({"tax"})),
        grant("c-bank", "ref-a", categories=frozenset({"banking"})),
    ]
    with pytest.raises(ConsentMissing):
        check(["ref-a"], grants, categories={"tax", "banking"})


def test_revoked_is_its_own_code() -> None:
    grants = [grant("c-a", "ref-a"), grant("c-b", "ref-b", revoked=True)]
    with pytest.raises(ConsentRevoked) as caught:
        check(["ref-a", "ref-b"], grants)
    assert caught.value.code == "consent_revoked"
    assert caught.value.extensions["members"] == [{"index": 1, "reason": "consent_revoked"}]


def test_expired_is_its_own_code_and_expiry_is_exclusive() -> None:
    grants = [grant("c-a", "ref-a", valid_until=AT)]
    with pytest.raises(ConsentExpired) as caught:
        check(["ref-a"], grants)
    assert caught.value.code == "consent_expired"
    assert check(["ref-a"], [grant("c-a", "ref-a", valid_until=AT + timedelta(seconds=1))]) == ("c-a",)


def test_a_consent_not_yet_in_force_is_missing() -> None:
    with pytest.raises(ConsentMissing) as caught:
        check(["ref-a"], [grant("c-a", "ref-a", valid_from=AT + timedelta(days=1))])
    assert caught.value.extensions["members"] == [{"index": 0, "reason": "consent_missing"}]


def test_the_latest_signed_consent_decides_the_reason() -> None:
    older_revoked = grant("c-old", "ref-a", revoked=True, signed_at=AT - timedelta(days=400))
    newer_expired = grant("c-new", "ref-a", signed_at=AT - timedelta(days=370), valid_until=AT - timedelta(days=5))
    with pytest.raises(ConsentExpired):
        check(["ref-a"], [older_revoked, newer_expired])


def test_mixed_reasons_are_consent_missing_with_each_reason_listed() -> None:
    grants = [grant("c-a", "ref-a", revoked=True), grant("c-b", "ref-b", valid_until=AT - timedelta(days=1))]
    with pytest.raises(ConsentMissing) as caught:
        check(["ref-a", "ref-b", "ref-c"], grants)
    assert type(caught.value) is ConsentMissing
    assert caught.value.extensions["members"] == [
        {"index": 0, "reason": "consent_revoked"},
        {"index": 1, "reason": "consent_expired"},
        {"index": 2, "reason": "consent_missing"},
    ]
    assert "3 of 3" in caught.value.detail
