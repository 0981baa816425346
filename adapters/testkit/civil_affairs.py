"""Simulated civil-affairs agency (民政): a SOAP 1.1 service over the synthetic population.

One operation, ``QueryPersons`` (contracts/agencies/civil_affairs/): for each identity number asked, the
death registration (死亡登记), marital status from marriage registration (婚姻登记, GB/T 2261.2 codes), the
disabled-persons registry (残疾人证) and current social-assistance enrollments. A number the population does
not hold is answered with ``Found`` false.
"""

from __future__ import annotations

from aiohttp import web
from lxml import etree

from adapters.soap import contract_file
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Person, Population
from adapters.testkit.soap import SoapOperation, SoapService, create_soap_app, record_number, response_header

NAMESPACE = "urn:hedui:agency:civil-affairs:v1"
_NS = {"ca": NAMESPACE}

# GB/T 2261.2-2003 marital status codes.
_MARITAL_STATUS_CODES = {"single": "10", "married": "20", "widowed": "30", "divorced": "40"}


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    def query_persons(request: etree._Element) -> etree._Element:
        answer = etree.Element(_q("QueryPersonsResponse"), nsmap=_NS)
        request_id = request.findtext("ca:RequestHeader/ca:RequestId", namespaces=_NS) or ""
        answer.append(response_header(NAMESPACE, request_id, population.as_of))
        for id_number in request.iterfind("ca:IdNumber", namespaces=_NS):
            answer.append(_person_record(population, str(id_number.text)))
        return answer

    service = SoapService(
        wsdl=contract_file("civil_affairs", "civil_affairs.wsdl"),
        schema=contract_file("civil_affairs", "civil_affairs.xsd"),
        operations={_q("QueryPersons"): SoapOperation(f"{NAMESPACE}/QueryPersons", query_persons)},
    )
    return create_soap_app(service, faults)


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


def _person_record(population: Population, id_number: str) -> etree._Element:
    record = etree.Element(_q("PersonRecord"))
    _add(record, "IdNumber", id_number)
    person = population.person(id_number)
    _add(record, "Found", "false" if person is None else "true")
    if person is not None:
        _add_registrations(record, person, population.seed)
    return record


def _add_registrations(record: etree._Element, person: Person, seed: int) -> None:
    if person.death_date is not None:
        death = _add(record, "DeathRegistration")
        _add(death, "RegistrationNo", record_number(seed, "SWDJ", person.id_number))
        _add(death, "DeathDate", person.death_date.isoformat())
    marital = _add(record, "MaritalStatus")
    _add(marital, "StatusCode", _MARITAL_STATUS_CODES[person.marital_status])
    if person.marital_status != "single":
        _add(marital, "RegistrationNo", record_number(seed, "HYDJ", person.id_number, person.marital_status))
    if person.disability_grade is not None:
        disability = _add(record, "Disability")
        _add(disability, "RegistryNo", record_number(seed, "CJR", person.id_number))
        _add(disability, "Grade", str(person.disability_grade))
    for position, enrollment in enumerate(person.enrollments):
        entry = _add(record, "AssistanceEnrollment")
        _add(entry, "EnrollmentNo", record_number(seed, "JZ", person.id_number, str(position)))
        _add(entry, "ProgramCode", enrollment.program)
        _add(entry, "RegionCode", enrollment.region)
        _add(entry, "StartDate", enrollment.since.isoformat())
        _add(entry, "MonthlyAmount", f"{enrollment.monthly_amount:.2f}")
