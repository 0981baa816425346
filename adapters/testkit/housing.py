"""Simulated housing agency: real-estate registration (不动产登记) and the housing provident fund (住房公积金).

Speaks contracts/agencies/housing/openapi.yaml over real HTTP. Answers come from the population:

* the real-estate registry answers every property right held by the person; a certificate held by more
  than one person in the population is a jointly owned home (共同共有) and is answered, with the same
  certificate and record id, for each owner;
* the provident-fund centre knows a person with a positive balance (``found: true`` with the account);
  everyone else, including people unknown to the population, is ``found: false``.

Record ids are assigned in population order (``BDC…`` per certificate, ``GJJ…`` per account), so they are
stable for a given population and carry no personal data.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Population
from adapters.testkit.server import create_batch_agency

REAL_ESTATE_PATH = "/api/v1/real-estate/query"
PROVIDENT_FUND_PATH = "/api/v1/provident-fund/query"

_USAGES = {"residential": "RESIDENTIAL", "commercial": "COMMERCIAL"}


class _Housing:
    def __init__(self, population: Population) -> None:
        self._population = population
        people = [person for household in population.households for person in household.members]
        certificates = [holding.certificate for person in people for holding in person.properties]
        self._owners = Counter(certificates)
        self._holding_ids = {
            certificate: f"BDC{n:010d}" for n, certificate in enumerate(dict.fromkeys(certificates), start=1)
        }
        funded = [person.id_number for person in people if person.provident_fund_balance > 0]
        self._account_ids = {id_number: f"GJJ{n:010d}" for n, id_number in enumerate(funded, start=1)}

    def real_estate_result(self, id_number: str) -> dict[str, Any]:
        person = self._population.person(id_number)
        held = person.properties if person is not None else ()
        properties = [
            {
                "recordId": self._holding_ids[holding.certificate],
                "certificateNo": holding.certificate,
                "usage": _USAGES[holding.kind],
                "buildingArea": holding.area_m2,
                "regionCode": holding.region,
                "ownership": "JOINT" if self._owners[holding.certificate] > 1 else "SOLE",
            }
            for holding in held
        ]
        return {"properties": properties}

    def provident_fund_result(self, id_number: str) -> dict[str, Any]:
        person = self._population.person(id_number)
        if person is None or id_number not in self._account_ids:
            return {"found": False}
        return {
            "found": True,
            "account": {"recordId": self._account_ids[id_number], "balance": person.provident_fund_balance},
        }


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    """The agency's aiohttp application; start it with ``adapters.testkit.server.start_agency``."""
    agency = _Housing(population)
    return create_batch_agency(
        population,
        faults,
        {REAL_ESTATE_PATH: agency.real_estate_result, PROVIDENT_FUND_PATH: agency.provident_fund_result},
    )
