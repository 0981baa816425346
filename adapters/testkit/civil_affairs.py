"""Simulated civil-affairs agency (民政): a SOAP 1.1 service over the synthetic population.

One operation, ``QueryPersons`` (contracts/agencies/civil_affairs/): for each identity number asked, the
death registration (死亡登记), marital status from marriage registration (婚姻登记, GB/T 2261.2 codes), the
disabled-persons registry (残疾人证) and current social-assistance enrollments. A number the population does
not hold is answered with ``Found`` false.
"""

from __future__ import annotations

from aiohttp import web
from lxml import etree

from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Person, Population
from adapters.testkit.soap import AgencyNamespace, create_id_number_query_app, record_number

NAMESPACE = "urn:hedui:agency:civil-affairs:v1"
_CA = AgencyNamespace(NAMESPACE, "ca")

# GB/T 2261.2-2003 marital status codes.
_MARITAL_STATUS_CODES = {"single": "10", "married": "20", "widowed": "30", "divorced": "40"}


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    return create_id_number_query_app("civil_affairs", _CA, "QueryPersons", _person_record, population, faults)


def _person_record(population: Population, id_number: str) -> etree._Element:
    record = etree.Element(_CA.qname("PersonRecord"))
    _CA.add(record, "IdNumber", id_number)
    person = population.person(id_number)
    _CA.add(record, "Found", "false" if person is None else "true")
    if person is not None:
        _add_registrations(record, person, population.seed)
    return record


def _add_registrations(record: etree._Element, person: Person, seed: int) -> None:
    if person.death_date is not None:
        death = _CA.add(record, "DeathRegistration")
        _CA.add(death, "RegistrationNo", record_number(seed, "SWDJ", person.id_number))
        _CA.add(death, "DeathDate", person.death_date.isoformat())
    marital = _CA.add(record, "MaritalStatus")
    _CA.add(marital, "StatusCode", _MARITAL_STATUS_CODES[person.marital_status])
    if person.marital_status != "single":
        _CA.add(marital, "RegistrationNo", record_number(seed, "HYDJ", person.id_number, person.marital_status))
    if person.disability_grade is not None:
        disability = _CA.add(record, "Disability")
        _CA.add(disability, "RegistryNo", record_number(seed, "CJR", person.id_number))
        _CA.add(disability, "Grade", str(person.disability_grade))
    for position, enrollment in enumerate(person.enrollments):
        entry = _CA.add(record, "AssistanceEnrollment")
        _CA.add(entry, "EnrollmentNo", record_number(seed, "JZ", person.id_number, str(position)))
        _CA.add(entry, "ProgramCode", enrollment.program)
        _CA.add(entry, "RegionCode", enrollment.region)
        _CA.add(entry, "StartDate", enrollment.since.isoformat())
        _CA.add(entry, "MonthlyAmount", f"{enrollment.monthly_amount:.2f}")
