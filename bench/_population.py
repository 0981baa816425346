"""The households every benchmark asks about, the request bodies, and the consents the hub needs for them.

The generator and the agency process build the same synthetic population from the same seed, so the
identity numbers in the requests are the ones the agencies know.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from adapters.testkit.population import Household, generate
from gateway.consent import ConsentRegistration
from gateway.consent.rules import ADULT_AGE, CHINA_STANDARD_TIME, age_on
from gateway.consent.schema import Evidence, GuardianIn

POPULATION_SEED = 20260701
PURPOSE = "dibao.application"
REGION = "110101"  # the region of the sandbox's local MIS member, the requester of every benchmark
CATEGORIES = ("hukou", "civil_affairs", "tax", "housing", "banking")


def bench_households(households: int, as_of: date) -> list[Household]:
    """The generated population's households in the requester's region that have an adult member (who signs
    the consent form for the minors), in a fixed order. Request ``i`` asks about household ``i mod len``."""
    population = generate(POPULATION_SEED, households, as_of)
    chosen = [
        household
        for household in population.households
        if household.region == REGION and any(age_on(p.birth_date, as_of) >= ADULT_AGE for p in household.members)
    ]
    if not chosen:
        raise ValueError(f"the population has no household in region {REGION}; ask for more households")
    return chosen


def request_body(household: Household, index: int) -> dict[str, Any]:
    """The verification request (docs/architecture.md §6) of call ``index`` about ``household``."""
    return {
        "case_id": f"{REGION}-bench-{index:07d}",
        "purpose": PURPOSE,
        "region": REGION,
        "operator": "bench-0001",
        "household": [{"id_number": p.id_number, "name": p.name, "relation": p.relation} for p in household.members],
        "categories": list(CATEGORIES),
    }


def consent_registrations(
    households: Sequence[Household], grantee: str, purposes: Sequence[str] = (PURPOSE,)
) -> list[ConsentRegistration]:
    """One signed 授权书 per household (docs/architecture.md §8): a consent for every member, for ``purposes``
    (the benchmark's by default) and its categories, granted to ``grantee``; an adult of the household signs as
    guardian for each minor."""
    now = datetime.now(UTC)
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    registrations = []
    for household in households:
        evidence = Evidence(
            sha256=hashlib.sha256(f"bench consent form {household.household_id}".encode()).hexdigest(),
            ref=f"bench/{household.household_id}/consent-form.pdf",
        )
        adult = next(p for p in household.members if age_on(p.birth_date, today) >= ADULT_AGE)
        for person in household.members:
            minor = age_on(person.birth_date, today) < ADULT_AGE
            registrations.append(
                ConsentRegistration(
                    id_number=person.id_number,
                    grantee=grantee,
                    purposes=list(purposes),
                    categories=list(CATEGORIES),
                    collection_method="guardian" if minor else "signed_form",
                    evidence=evidence,
                    signed_at=now,
                    guardian=GuardianIn(id_number=adult.id_number, relation="other_relative") if minor else None,
                )
            )
    return registrations
