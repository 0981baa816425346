"""Seeding the registry from the synthetic population; the enrolled_elsewhere scenario produces the flag."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.testkit.population import Population, generate
from gateway.errors import ConfigurationError
from gateway.registry import EnrollmentSearch, RegistryService
from gateway.registry.seed import seed_from_population

AS_OF = date(2026, 10, 31)
REPORTERS = {
    "110101": "CN/GOV/11110101MB12345677/dibao-mis",
    "510502": "CN/GOV/11510502MB2345678N/dibao-mis",
    "450902": "CN/GOV/11450902MB23456785/dibao-mis",
}


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(households=60, as_of=AS_OF)


def enrollments_of(population: Population) -> list[tuple[str, str, str]]:
    return [
        (person.id_number, enrollment.program, enrollment.region)
        for household in population.households
        for person in household.members
        for enrollment in person.enrollments
    ]


async def test_seed_records_every_enrollment_as_its_regions_member(
    registry: RegistryService, population: Population
) -> None:
    expected = enrollments_of(population)
    assert len(expected) > 5
    assert await seed_from_population(registry, population, REPORTERS) == len(expected)
    for id_number, programme, region in expected:
        views = (await registry.search(EnrollmentSearch(id_number=id_number))).enrollments
        assert [(view.programme, view.region, view.member) for view in views] == [
            (programme, region, REPORTERS[region])
        ]


async def test_enrolled_elsewhere_is_flagged_and_no_other_scenario(
    registry: RegistryService, population: Population
) -> None:
    await seed_from_population(registry, population, REPORTERS)
    scenario = population.scenario("enrolled_elsewhere")
    household = [person.id_number for person in population.household(scenario.household_id).members]
    findings = await registry.check_for_purpose(scenario.purpose, household, scenario.region, AS_OF)
    assert [finding.as_dict() for finding in findings] == [
        {
            "household_index": 1,
            "programme": "dibao",
            "region": "510502",
            "since": "2023-04-01",
            "reason": "other_region",
        }
    ]
    for other in population.scenarios:
        household = [person.id_number for person in population.household(other.household_id).members]
        findings = await registry.check_for_purpose(other.purpose, household, other.region, AS_OF)
        assert bool(findings) == ("duplicate_enrollment" in other.expected["flags"]), other.name


async def test_every_region_needs_a_reporting_member(registry: RegistryService, population: Population) -> None:
    with pytest.raises(ConfigurationError):
        await seed_from_population(registry, population, {"110101": REPORTERS["110101"]})
    assert (await registry.search(EnrollmentSearch(id_number=enrollments_of(population)[0][0]))).enrollments == []
