"""The sandbox's consents: every scenario household is covered except no_consent."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest

from adapters.testkit.population import generate
from gateway.consent import ConsentService
from gateway.consent.seed import register_scenario_consents
from gateway.errors import ConsentMissing

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import ConsentKit


async def test_every_scenario_but_no_consent_is_covered(kit: ConsentKit, service: ConsentService) -> None:
    population = generate(households=1, as_of=date.today())
    registered = await register_scenario_consents(service, population, mis=kit.mis_member)
    scenarios = {scenario.name: population.household(scenario.household_id) for scenario in population.scenarios}
    assert registered == sum(len(h.members) for name, h in scenarios.items() if name != "no_consent")

    minors = 0
    for name, household in scenarios.items():
        numbers = [person.id_number for person in household.members]
        check = service.check(
            numbers, purpose="dibao.application", categories=kit.all_categories, requester=kit.mis_member
        )
        if name == "no_consent":
            with pytest.raises(ConsentMissing) as caught:
                await check
            assert caught.value.extensions["members"] == [
                {"index": i, "reason": "consent_missing"} for i in range(len(numbers))
            ]
            continue
        relied_on = await check
        views = [(await service.search(number, member=kit.mis_member))[0] for number in numbers]
        assert list(relied_on) == [view.consent_id for view in views]
        minors += sum(view.collection_method == "guardian" for view in views)
        assert all(view.guardian is not None for view in views if view.collection_method == "guardian")
    assert minors > 0, "the scenarios include children, whose consent a guardian gives"
