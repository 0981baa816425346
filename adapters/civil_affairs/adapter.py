"""The civil-affairs adapter: one ``QueryPersons`` SOAP call per verification, mapped to unified facts.

Facts per person the agency knows (``Found`` true; an unknown person yields no facts):
``person.deceased`` always, ``person.death_date`` when a death is registered, ``person.marital_status``,
``person.disability_grade`` when on the disabled-persons registry, and one ``assistance.enrollment`` per
current enrollment. Each fact carries the registry record number it comes from.
"""

from __future__ import annotations

from typing import Any

from adapters.base import Fact
from adapters.soap import SoapAdapter, amount_value

# GB/T 2261.2-2003 marital status codes, as the agency's XSD allows them.
_MARITAL_STATUSES = {"10": "single", "20": "married", "30": "widowed", "40": "divorced"}


class CivilAffairsAdapter(SoapAdapter):
    """Adapter for the civil-affairs SOAP service at ``base_url`` (the endpoint is ``base_url + "/soap"``)."""

    name = "civil_affairs"
    categories = frozenset({"civil_affairs"})
    operation = "QueryPersons"
    record_element = "PersonRecord"

    def _found_record_facts(self, member: int, record: Any) -> tuple[list[Fact], list[str]]:
        facts = _member_facts(member, record)
        return facts, [fact.record_id for fact in facts if fact.record_id is not None]


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
