"""Adapter for public security (公安): the household register (户籍) and motor-vehicle registration (车管).

The agency speaks REST/JSON (contracts/agencies/hukou/openapi.yaml). One verification is two batch
queries sent at once, each carrying only the members' identity numbers (never names):

* ``POST /api/v1/household-register/query``: register status, 户号, region, relation to the head, sex,
  date of birth -> ``person.registered``, ``person.hukou_id``, ``person.hukou_region``,
  ``person.register_relation``, ``person.sex``, ``person.birth_date``;
* ``POST /api/v1/motor-vehicles/query``: vehicles registered to each person -> ``vehicle.count``,
  ``vehicle.value``.
"""

from __future__ import annotations

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.hukou._facts import register_facts, vehicle_facts
from adapters.hukou._wire import REGISTER_PATH, VEHICLES_PATH, RegisterAnswer, VehicleAnswer
from adapters.rest import BatchQuery, JsonAgencyClient, concurrently

__all__ = ["HukouAdapter"]


class HukouAdapter:
    """Implements :class:`adapters.base.Adapter` for the public-security REST service."""

    name = "hukou"
    categories = frozenset({"hukou"})
    calls_per_fetch = 2  # register and vehicles: two requests against the agency's quota

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._client = JsonAgencyClient(base_url, settings or AdapterSettings())

    async def fetch(self, query: SourceQuery) -> SourceResult:
        # Each call gets its own requestId; both batches are built before any coroutine exists.
        register_batch, vehicle_batch = BatchQuery.for_members(query), BatchQuery.for_members(query)
        register, vehicles = await concurrently(
            self._client.query(REGISTER_PATH, register_batch, RegisterAnswer),
            self._client.query(VEHICLES_PATH, vehicle_batch, VehicleAnswer),
        )
        facts: list[Fact] = []
        record_ids: list[str] = []
        for member in query.members:
            person = register.by_seq[member.index]
            owned = vehicles.by_seq[member.index]
            facts += register_facts(member.index, person)
            facts += vehicle_facts(member.index, owned)
            if person.person is not None:
                record_ids.append(person.person.recordId)
            record_ids += [vehicle.recordId for vehicle in owned.vehicles]
        return SourceResult(
            adapter=self.name,
            facts=tuple(facts),
            # The older of the two answers' dates: the whole result is as fresh as its stalest part.
            provenance=Provenance(
                agency=self.name,
                as_of=min(register.as_of, vehicles.as_of),
                record_ids=tuple(dict.fromkeys(record_ids)),
            ),
        )

    async def health(self) -> bool:
        return await self._client.health()

    async def aclose(self) -> None:
        await self._client.aclose()
