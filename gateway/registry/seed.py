"""Seed the registry with the enrollments the synthetic population already has (the sandbox's registry).

Each enrollment is recorded as reported by the local MIS of its region: ``reporters`` maps a GB/T 2260 region
code to that member's id. Meant for a fresh sandbox database: the import applies no overlap rule, so seeding
twice records every enrollment twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from adapters.testkit.population import Population
from gateway.errors import ConfigurationError
from gateway.registry.bodies import EnrollmentCreate
from gateway.registry.service import RegistryService


async def seed_from_population(registry: RegistryService, population: Population, reporters: Mapping[str, str]) -> int:
    """Record every ``Person.enrollments`` entry of ``population``; returns how many."""
    entries: list[tuple[str, EnrollmentCreate]] = []
    for household in population.households:
        for person in household.members:
            for enrollment in person.enrollments:
                member_id = reporters.get(enrollment.region)
                if member_id is None:
                    raise ConfigurationError(f"no reporting member for region {enrollment.region}")
                entries.append(
                    (
                        member_id,
                        EnrollmentCreate.model_validate(
                            {
                                "id_number": person.id_number,
                                "programme": enrollment.program,
                                "region": enrollment.region,
                                "start": enrollment.since,
                                "monthly_amount": Decimal(enrollment.monthly_amount),
                            }
                        ),
                    )
                )
    return await registry.load(entries)
