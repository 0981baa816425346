"""Issue 11 defect 7: every adapter keeps a record only when it names the identity number asked about, and the
hub cross-checks what the number itself says (birth date, sex) against the household register. The five
real adapters against the five simulated agencies over HTTP, with the "another person's record" fault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from adapters.base import QueryMember, SourceQuery
from adapters.testkit.agencies import AGENCY_APPS, start_agencies, stop_agencies
from adapters.testkit.faults import FaultSettings
from adapters.testkit.population import Population, generate
from adapters.testkit.server import RunningAgency
from gateway.broker import Broker, SourcePolicy, load_adapters
from gateway.errors import RecordMismatch

AGENCIES = sorted(AGENCY_APPS)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(seed=11, households=6, as_of=date(2026, 10, 31))


@pytest.fixture
async def agencies(population: Population) -> AsyncIterator[dict[str, RunningAgency]]:
    running = await start_agencies(population)
    try:
        yield running
    finally:
        await stop_agencies(running)


def _query(population: Population) -> SourceQuery:
    household = population.households[0]
    members = tuple(
        QueryMember(index, person.id_number, person.name, person.relation)
        for index, person in enumerate(household.members)
    )
    return SourceQuery("v-record-identity", "dibao.application", household.region, members, population.as_of)


@pytest.mark.parametrize("agency", AGENCIES)
async def test_a_record_naming_another_person_is_refused(
    agencies: dict[str, RunningAgency], population: Population, agency: str
) -> None:
    agencies[agency].faults.settings = FaultSettings(other_person_rate=1.0)
    adapter = load_adapters({agency: agencies[agency].url})[agency]
    try:
        with pytest.raises(RecordMismatch) as raised:
            await adapter.fetch(_query(population))
    finally:
        await adapter.aclose()
    assert all(person.id_number not in str(raised.value) for person in population.households[0].members)


@pytest.mark.parametrize("agency", AGENCIES)
async def test_without_the_fault_every_record_is_kept(
    agencies: dict[str, RunningAgency], population: Population, agency: str
) -> None:
    adapter = load_adapters({agency: agencies[agency].url})[agency]
    try:
        result = await adapter.fetch(_query(population))
    finally:
        await adapter.aclose()
    assert result.adapter == agency


async def test_a_register_record_echoing_the_number_is_caught_by_the_hub_cross_check(
    agencies: dict[str, RunningAgency], population: Population
) -> None:
    """The agency labels another person's register entry with the number asked: only the birth date and
    sex the number encodes (GB 11643-1999 §4) can tell, and the broker checks them."""
    agencies["hukou"].faults.settings = FaultSettings(other_person_rate=1.0, other_person_echo=True)
    broker = Broker(load_adapters({"hukou": agencies["hukou"].url}), SourcePolicy(retries=0))
    try:
        outcome = (await broker.fan_out(_query(population), ["hukou"]))[0]
    finally:
        await broker.aclose()
    assert (outcome.status, outcome.error_code, outcome.result) == ("error", "record_mismatch", None)
