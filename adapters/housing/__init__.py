"""Adapter for housing: real-estate registration (住建/不动产登记) and the housing provident fund (住房公积金).

The agency speaks REST/JSON (contracts/agencies/housing/openapi.yaml). One verification is two batch
queries sent at once, each carrying only the members' identity numbers (never names):

* ``POST /api/v1/real-estate/query``: property rights held by each person -> ``property.residential`` and
  ``property.commercial``, one fact per certificate;
* ``POST /api/v1/provident-fund/query``: each person's provident-fund account -> ``provident_fund.balance``.
"""

from __future__ import annotations

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.housing._facts import fund_facts, property_facts
from adapters.housing._wire import PROVIDENT_FUND_PATH, REAL_ESTATE_PATH, FundAnswer, RealEstateAnswer
from adapters.rest import BatchQuery, JsonAgencyClient, concurrently

__all__ = ["HousingAdapter"]


class HousingAdapter:
    """Implements :class:`adapters.base.Adapter` for the housing REST service."""

    name = "housing"
    categories = frozenset({"housing"})
    calls_per_fetch = 2  # real estate and provident fund: two requests against the agency's quota

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._client = JsonAgencyClient(base_url, settings or AdapterSettings())

    async def fetch(self, query: SourceQuery) -> SourceResult:
        # Each call gets its own requestId; both batches are built before any coroutine exists.
        estate_batch, fund_batch = BatchQuery.for_members(query), BatchQuery.for_members(query)
        estate, funds = await concurrently(
            self._client.query(REAL_ESTATE_PATH, estate_batch, RealEstateAnswer),
            self._client.query(PROVIDENT_FUND_PATH, fund_batch, FundAnswer),
        )
        facts: list[Fact] = []
        for member in query.members:
            facts += property_facts(member.index, estate.by_seq[member.index])
            facts += fund_facts(member.index, funds.by_seq[member.index])
        record_ids = (fact.record_id for fact in facts if fact.record_id is not None)
        return SourceResult(
            adapter=self.name,
            facts=tuple(facts),
            # The older of the two answers' dates: the whole result is as fresh as its stalest part.
            provenance=Provenance(
                agency=self.name,
                as_of=min(estate.as_of, funds.as_of),
                # A joint home's record id appears once, however many owners asked about.
                record_ids=tuple(dict.fromkeys(record_ids)),
            ),
        )

    async def health(self) -> bool:
        return await self._client.health()

    async def aclose(self) -> None:
        await self._client.aclose()
