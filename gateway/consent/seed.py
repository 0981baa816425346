"""Consents for the sandbox: every scenario household of the synthetic population is covered, except the
scenario that exists to show the refusal (``no_consent``). Only gateway/sandbox.py imports this module
(it needs the testkit), so ``gateway.consent`` itself does not export it."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import UTC, date, datetime

from adapters.testkit.population import Household, Person, Population
from gateway.consent.rules import ADULT_AGE, CHINA_STANDARD_TIME, age_on
from gateway.consent.schema import ConsentRegistration, Evidence, GuardianIn, GuardianRelation
from gateway.consent.service import ConsentService
from gateway.meanstest.request import CATEGORIES
from gateway.members import MemberRecord

UNCONSENTED_SCENARIOS = frozenset({"no_consent"})

# Who signs for a minor, by the minor's relation to the household head, in order of preference
# (Civil Code Art. 27: parents first, then grandparents, then adult siblings).
_GUARDIANS: dict[str, tuple[tuple[str, GuardianRelation], ...]] = {
    "child": (("self", "parent"), ("spouse", "parent")),
    "grandchild": (("child", "parent"), ("self", "grandparent"), ("spouse", "grandparent")),
    "sibling": (("self", "sibling"),),
}


async def register_scenario_consents(
    service: ConsentService,
    population: Population,
    *,
    mis: MemberRecord,
    skip: Collection[str] = UNCONSENTED_SCENARIOS,
    now: datetime | None = None,
    categories: Collection[str] = CATEGORIES,
) -> int:
    """Register one consent per member of every scenario household not in ``skip``, for the scenario's
    purpose and ``categories`` (the five built-in ones by default), granted to the sandbox MIS; returns how
    many were registered."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    registrations = [
        registration
        for scenario in population.scenarios
        if scenario.name not in skip
        for registration in _household_consents(
            population.household(scenario.household_id), scenario.purpose, mis, now, list(categories)
        )
    ]
    await service.register(registrations, controller=mis, now=now)
    return len(registrations)


async def register_household_consents(
    service: ConsentService,
    households: Collection[Household],
    *,
    purpose: str,
    mis: MemberRecord,
    now: datetime | None = None,
) -> int:
    """One consent per member of each of ``households`` for ``purpose`` and all five categories, granted to
    ``mis`` (e.g. ``dibao.review`` for the households a batch re-verifies); returns how many."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    registrations = [r for household in households for r in _household_consents(household, purpose, mis, now)]
    if registrations:
        await service.register(registrations, controller=mis, now=now)
    return len(registrations)


def _household_consents(
    household: Household,
    purpose: str,
    mis: MemberRecord,
    now: datetime,
    categories: Collection[str] = CATEGORIES,
) -> list[ConsentRegistration]:
    # One 授权书 signed by the whole household, as the forms are in practice: one digest for every member;
    # one form per purpose (an application's form and a later review's are different papers).
    evidence = Evidence(
        sha256=hashlib.sha256(f"sandbox consent form {household.household_id} {purpose}".encode()).hexdigest(),
        ref=f"sandbox/{household.household_id}/consent-form-{purpose}.pdf",
    )
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    consents = []
    for person in household.members:
        guardian = None if age_on(person.birth_date, today) >= ADULT_AGE else _guardian(person, household, today)
        consents.append(
            ConsentRegistration(
                id_number=person.id_number,
                grantee=mis.member_id,
                purposes=[purpose],
                categories=list(categories),
                collection_method="signed_form" if guardian is None else "guardian",
                evidence=evidence,
                signed_at=now,
                guardian=guardian,
            )
        )
    return consents


def _guardian(minor: Person, household: Household, today: date) -> GuardianIn:
    adults = [p for p in household.members if age_on(p.birth_date, today) >= ADULT_AGE]
    for relation, role in _GUARDIANS.get(minor.relation, ()):
        for adult in adults:
            if adult.relation == relation:
                return GuardianIn(id_number=adult.id_number, relation=role)
    return GuardianIn(id_number=adults[0].id_number, relation="other_relative")
