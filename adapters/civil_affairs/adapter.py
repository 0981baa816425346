"""The civil-affairs adapter: one ``QueryPersons`` SOAP call per verification, mapped to unified facts.

Facts per person the agency knows (``Found`` true; an unknown person yields no facts):
``person.deceased`` always, ``person.death_date`` when a death is registered, ``person.marital_status``,
``person.disability_grade`` when on the disabled-persons registry, and one ``assistance.enrollment`` per
current enrollment. Each fact carries the registry record number it comes from.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.soap import SoapClient, amount_value, contract_file, records_by_id_number
from gateway.errors import SourceProtocolError

# GB/T 2261.2-2003 marital status codes, as the agency's XSD allows them.
_MARITAL_STATUSES = {"10": "single", "20": "married", "30": "widowed", "40": "divorced"}


class CivilAffairsAdapter:
    """Adapter for the civil-affairs SOAP service at ``base_url`` (the endpoint is ``base_url + "/soap"``)."""

    name = "civil_affairs"
    categories = frozenset({"civil_affairs"})

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._soap = SoapClient(
            self.name,
            base_url,
            wsdl=contract_file("civil_affairs", "civil_affairs.wsdl"),
            schema=contract_file("civil_affairs", "civil_affairs.xsd"),
            settings=settings,
        )

    async def fetch(self, query: SourceQuery) -> SourceResult:
        asked = list(dict.fromkeys(member.id_number.upper() for member in query.members))
        if not asked:
            return SourceResult(self.name, (), Provenance(self.name, query.as_of))
        answer = await self._soap.call(
            "QueryPersons",
            RequestHeader={
                "RequestId": query.verification_id,
                "PurposeCode": query.purpose,
                "RegionCode": query.region,
            },
            IdNumber=asked,
        )
        if answer.ResponseHeader.RequestId != query.verification_id:
            raise SourceProtocolError(f"{self.name} answered another request")
        records = records_by_id_number(answer.PersonRecord, asked, self.name)
        facts: list[Fact] = []
        for member in query.members:
            record = records[member.id_number.upper()]
            if record.Found:
                facts.extend(_member_facts(member.index, record))
        record_ids = tuple(dict.fromkeys(fact.record_id for fact in facts if fact.record_id is not None))
        return SourceResult(self.name, tuple(facts), Provenance(self.name, answer.ResponseHeader.DataAsOf, record_ids))

    async def health(self) -> bool:
        return await self._soap.health()

    async def aclose(self) -> None:
        await self._soap.aclose()


def _member_facts(member: int, record: Any) -> list[Fact]:
    facts: list[Fact] = []
    death = record.DeathRegistration
    if death is None:
        facts.append(Fact("person.deceased", member, False))
    else:
        facts.append(Fact("person.deceased", member, True, record_id=death.RegistrationNo))
        facts.append(Fact("person.death_date", member, death.DeathDate.isoformat(), record_id=death.RegistrationNo))
    marital = record.MaritalStatus
    if marital is not None:
        status = _MARITAL_STATUSES[marital.StatusCode]
        facts.append(Fact("person.marital_status", member, status, record_id=marital.RegistrationNo))
    disability = record.Disability
    if disability is not None:
        facts.append(Fact("person.disability_grade", member, disability.Grade, record_id=disability.RegistryNo))
    for enrollment in record.AssistanceEnrollment:
        value = {
            "program": enrollment.ProgramCode,
            "region": enrollment.RegionCode,
            "since": enrollment.StartDate.isoformat(),
            "monthly_amount": amount_value(enrollment.MonthlyAmount),
        }
        facts.append(Fact("assistance.enrollment", member, value, record_id=enrollment.EnrollmentNo))
    return facts
