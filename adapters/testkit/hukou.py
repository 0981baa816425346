"""Simulated public-security agency (公安): household register (户籍) and motor-vehicle registration (车管).

Speaks contracts/agencies/hukou/openapi.yaml over real HTTP. Answers come from the population:

* a person not in the population is ``found: false``;
* a person with ``on_register`` False has a CANCELLED entry (no household fields);
* a registered death is unknown to this agency: the person stays NORMAL until the entry is cancelled
  (the ``deceased_on_register`` scenario);
* the vehicle registry knows vehicles, not people: an unknown person simply owns none.

Record ids are assigned in population order (``RK…`` for register entries, ``CL…`` for vehicles), so they
are stable for a given population and carry no personal data.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Person, Population
from adapters.testkit.server import create_batch_agency

REGISTER_PATH = "/api/v1/household-register/query"
VEHICLES_PATH = "/api/v1/motor-vehicles/query"

# GB/T 4761-2008 家庭关系代码 (two-digit): the register names each person's relation to the head (户主).
_RELATION_CODES = {
    "self": "02",  # 户主
    "spouse": "10",  # 配偶
    "grandchild": "40",  # 孙子、孙女、外孙子、外孙女
    "grandparent": "60",  # 祖父母、外祖父母
    "sibling": "70",  # 兄、弟、姐、妹
    "other": "99",  # 非亲属
}
_SEX_CODES = {"M": "1", "F": "2"}  # GB/T 2261.1-2003
_SMALL_CAR_PLATE = "02"  # GA 24.7 号牌种类代码: 小型汽车号牌


def _relation_code(person: Person) -> str:
    if person.relation == "child":
        return "20" if person.sex == "M" else "30"  # 子 / 女
    if person.relation == "parent":
        return "51" if person.sex == "M" else "52"  # 父亲 / 母亲
    return _RELATION_CODES[person.relation]


class _PublicSecurity:
    def __init__(self, population: Population) -> None:
        self._population = population
        people = [person for household in population.households for person in household.members]
        self._entry_ids = {person.id_number: f"RK{n:010d}" for n, person in enumerate(people, start=1)}
        plates = [vehicle.plate for person in people for vehicle in person.vehicles]
        self._vehicle_ids = {plate: f"CL{n:010d}" for n, plate in enumerate(plates, start=1)}

    def register_result(self, id_number: str) -> dict[str, Any]:
        person = self._population.person(id_number)
        if person is None:
            return {"found": False}
        entry: dict[str, Any] = {
            "recordId": self._entry_ids[id_number],
            "registerStatus": "NORMAL" if person.on_register else "CANCELLED",
            "sexCode": _SEX_CODES[person.sex],
            "birthDate": person.birth_date.isoformat(),
        }
        if person.on_register:
            entry |= {
                "hukouId": person.hukou_id,
                "hukouRegion": person.hukou_region,
                "relationCode": _relation_code(person),
            }
        return {"found": True, "person": entry}

    def vehicle_result(self, id_number: str) -> dict[str, Any]:
        person = self._population.person(id_number)
        owned = person.vehicles if person is not None else ()
        vehicles = [
            {
                "recordId": self._vehicle_ids[vehicle.plate],
                "plateNumber": vehicle.plate,
                "plateType": _SMALL_CAR_PLATE,
                "assessedValue": vehicle.value,
            }
            for vehicle in owned
        ]
        return {"vehicles": vehicles}


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    """The agency's aiohttp application; start it with ``adapters.testkit.server.start_agency``."""
    agency = _PublicSecurity(population)
    return create_batch_agency(
        population, faults, {REGISTER_PATH: agency.register_result, VEHICLES_PATH: agency.vehicle_result}
    )
