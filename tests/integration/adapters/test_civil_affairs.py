"""The civil-affairs SOAP agency and its adapter, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import aiohttp
import pytest
from lxml import etree

from adapters.base import AdapterSettings, Fact, QueryMember, SourceQuery
from adapters.civil_affairs import CivilAffairsAdapter
from adapters.soap import SOAP_ENV_NS, contract_file
from adapters.testkit.civil_affairs import NAMESPACE, create_app
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Enrollment, Household, Person, Population
from adapters.testkit.server import RunningAgency, start_agency
from gateway.errors import SourceProtocolError, SourceUnavailable
from gateway.ids import id_number_check_char
from tests.integration.adapters.soap_stand_in import SoapStandIn

AS_OF = date(2026, 10, 31)


def _id_number(first17: str) -> str:
    return first17 + id_number_check_char(first17)


HEAD = Person(
    _id_number("11010119800101001"),
    "张建国",
    "M",
    date(1980, 1, 1),
    "self",
    "110101000000001",
    "110101",
    marital_status="married",
    disability_grade=2,
    enrollments=(
        Enrollment("dibao", "510502", date(2025, 3, 1), 788),
        Enrollment("rigid_expenditure", "110101", date(2026, 1, 15), 320),
    ),
)
SPOUSE = Person(
    _id_number("11010119820202002"),
    "李秀英",
    "F",
    date(1982, 2, 2),
    "spouse",
    "110101000000001",
    "110101",
    marital_status="married",
)
MOTHER = Person(
    _id_number("11010119500303004"),
    "王桂兰",
    "F",
    date(1950, 3, 3),
    "parent",
    "110101000000001",
    "110101",
    death_date=date(2026, 5, 3),
    marital_status="widowed",
)
# Check character X, asked in lower case by the test that covers normalisation.
SON = Person(
    "11010119751203006X",
    "张伟",
    "M",
    date(1975, 12, 3),
    "sibling",
    "110101000000001",
    "110101",
    marital_status="divorced",
)
UNKNOWN = _id_number("11010119990909009")

POPULATION = Population.of(seed=7, as_of=AS_OF, households=(Household("H-1", "110101", (HEAD, SPOUSE, MOTHER, SON)),))


def _query(*id_numbers: str, verification_id: str = "ver-0001") -> SourceQuery:
    members = tuple(QueryMember(index, number, "姓名不外发", "other") for index, number in enumerate(id_numbers))
    return SourceQuery(verification_id, "dibao.application", "110101", members, AS_OF)


@pytest.fixture
async def agency() -> AsyncIterator[RunningAgency]:
    faults = FaultInjector()
    running = await start_agency("civil_affairs", create_app(POPULATION, faults), faults)
    yield running
    await running.stop()


@pytest.fixture
async def adapter(agency: RunningAgency) -> AsyncIterator[CivilAffairsAdapter]:
    client = CivilAffairsAdapter(agency.url)
    yield client
    await client.aclose()


async def test_every_fact_is_mapped(adapter: CivilAffairsAdapter) -> None:
    result = await adapter.fetch(_query(HEAD.id_number, SPOUSE.id_number, MOTHER.id_number, SON.id_number))

    assert result.adapter == "civil_affairs"
    assert [(fact.code, fact.member, fact.value) for fact in result.facts] == [
        ("person.deceased", 0, False),
        ("person.marital_status", 0, "married"),
        ("person.disability_grade", 0, 2),
        (
            "assistance.enrollment",
            0,
            {"program": "dibao", "region": "510502", "since": "2025-03-01", "monthly_amount": 788},
        ),
        (
            "assistance.enrollment",
            0,
            {"program": "rigid_expenditure", "region": "110101", "since": "2026-01-15", "monthly_amount": 320},
        ),
        ("person.deceased", 1, False),
        ("person.marital_status", 1, "married"),
        ("person.deceased", 2, True),
        ("person.death_date", 2, "2026-05-03"),
        ("person.marital_status", 2, "widowed"),
        ("person.deceased", 3, False),
        ("person.marital_status", 3, "divorced"),
    ]
    assert all(fact.period is None for fact in result.facts)


async def test_facts_carry_registry_record_numbers(adapter: CivilAffairsAdapter) -> None:
    result = await adapter.fetch(_query(HEAD.id_number, MOTHER.id_number, SON.id_number))

    by_code = {(fact.code, fact.member): fact.record_id for fact in result.facts}
    assert by_code[("person.deceased", 0)] is None
    assert by_code[("person.deceased", 1)] == by_code[("person.death_date", 1)]
    assert str(by_code[("person.death_date", 1)]).startswith("SWDJ-")
    assert str(by_code[("person.marital_status", 0)]).startswith("HYDJ-")
    assert str(by_code[("person.disability_grade", 0)]).startswith("CJR-")
    enrollment_ids = [fact.record_id for fact in result.facts if fact.code == "assistance.enrollment"]
    assert len(set(enrollment_ids)) == 2
    assert all(str(record_id).startswith("JZ-") for record_id in enrollment_ids)
    assert result.provenance.agency == "civil_affairs"
    assert result.provenance.as_of == AS_OF
    assert result.provenance.record_ids == tuple(
        dict.fromkeys(fact.record_id for fact in result.facts if fact.record_id is not None)
    )
    again = await adapter.fetch(_query(HEAD.id_number, MOTHER.id_number, SON.id_number))
    assert again.provenance.record_ids == result.provenance.record_ids
    for person in (HEAD, MOTHER, SON):
        assert all(person.id_number not in record_id for record_id in result.provenance.record_ids)


async def test_unknown_person_yields_no_facts(adapter: CivilAffairsAdapter) -> None:
    result = await adapter.fetch(_query(UNKNOWN, SPOUSE.id_number))

    assert {fact.member for fact in result.facts} == {1}


async def test_repeated_member_and_lower_case_check_character(
    adapter: CivilAffairsAdapter, agency: RunningAgency
) -> None:
    result = await adapter.fetch(_query(SON.id_number.lower(), SPOUSE.id_number, SON.id_number))

    assert [(fact.member, fact.value) for fact in result.facts if fact.code == "person.marital_status"] == [
        (0, "divorced"),
        (1, "married"),
        (2, "divorced"),
    ]
    assert agency.faults.requests["/soap"] == 1


async def test_empty_household_asks_nothing(adapter: CivilAffairsAdapter, agency: RunningAgency) -> None:
    result = await adapter.fetch(_query())

    assert result.facts == ()
    assert result.provenance.as_of == AS_OF
    assert agency.faults.total_requests == 0


async def test_malformed_answer_is_a_protocol_error(adapter: CivilAffairsAdapter, agency: RunningAgency) -> None:
    agency.faults.settings.malformed_rate = 1.0

    with pytest.raises(SourceProtocolError):
        await adapter.fetch(_query(HEAD.id_number))


async def test_injected_errors_make_the_source_unavailable(adapter: CivilAffairsAdapter, agency: RunningAgency) -> None:
    agency.faults.settings.error_rate = 1.0

    with pytest.raises(SourceUnavailable):
        await adapter.fetch(_query(HEAD.id_number))
    assert agency.faults.requests["/soap"] == 1


# -- the simulated server, spoken to directly ------------------------------------------------------------


def _request(*id_numbers: str, request_id: str = "ver-0001") -> bytes:
    numbers = "".join(f"<ca:IdNumber>{number}</ca:IdNumber>" for number in id_numbers)
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}" xmlns:ca="{NAMESPACE}"><soap:Body><ca:QueryPersons>'
        f"<ca:RequestHeader><ca:RequestId>{request_id}</ca:RequestId><ca:PurposeCode>dibao.application"
        f"</ca:PurposeCode><ca:RegionCode>110101</ca:RegionCode></ca:RequestHeader>{numbers}"
        "</ca:QueryPersons></soap:Body></soap:Envelope>"
    ).encode()


_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NAMESPACE}/QueryPersons"'}


async def _post(url: str, body: bytes, headers: dict[str, str] = _HEADERS) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status, response.content_type, await response.read()


def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(contract_file("civil_affairs", "civil_affairs.xsd"))))


def _xsd_bytes() -> bytes:
    return contract_file("civil_affairs", "civil_affairs.xsd").read_bytes()


def _body_element(answer: bytes) -> etree._Element:
    root = etree.fromstring(answer)
    assert root.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    (element,) = root.find(f"{{{SOAP_ENV_NS}}}Body")
    return element


async def test_server_answers_validate_against_the_xsd(agency: RunningAgency) -> None:
    status, content_type, answer = await _post(
        agency.url + "/soap", _request(HEAD.id_number, MOTHER.id_number, SON.id_number, UNKNOWN)
    )

    assert (status, content_type) == (200, "text/xml")
    payload = _body_element(answer)
    schema = _schema()
    assert schema.validate(payload), schema.error_log
    assert payload.findtext(f"{{{NAMESPACE}}}ResponseHeader/{{{NAMESPACE}}}RequestId") == "ver-0001"
    found = [record.findtext(f"{{{NAMESPACE}}}Found") for record in payload.iter(f"{{{NAMESPACE}}}PersonRecord")]
    assert found == ["true", "true", "true", "false"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_request("1101011980010100"), id="short-identity-number"),
        pytest.param(_request(), id="no-identity-number"),
        pytest.param(_request(HEAD.id_number, request_id="not allowed"), id="bad-request-id"),
        pytest.param(
            _request(HEAD.id_number).replace(b"<ca:RegionCode>110101</ca:RegionCode>", b""), id="missing-region"
        ),
    ],
)
async def test_server_rejects_schema_invalid_requests_with_a_client_fault(agency: RunningAgency, body: bytes) -> None:
    status, content_type, answer = await _post(agency.url + "/soap", body)

    assert (status, content_type) == (500, "text/xml")
    fault = _body_element(answer)
    assert fault.tag == f"{{{SOAP_ENV_NS}}}Fault"
    assert fault.findtext("faultcode") == "soap:Client"
    assert "1101011980010100" not in str(fault.findtext("faultstring"))


@pytest.mark.parametrize(
    ("body", "headers", "faultcode"),
    [
        pytest.param(
            _request(HEAD.id_number),
            {"Content-Type": "text/xml", "SOAPAction": '"urn:other/Operation"'},
            "soap:Client",
            id="wrong-soap-action",
        ),
        pytest.param(_request(HEAD.id_number), {"Content-Type": "text/xml"}, "soap:Client", id="no-soap-action"),
        pytest.param(
            _request(HEAD.id_number).replace(SOAP_ENV_NS.encode(), b"http://www.w3.org/2003/05/soap-envelope"),
            _HEADERS,
            "soap:VersionMismatch",
            id="soap-1.2-envelope",
        ),
        pytest.param(
            _request(HEAD.id_number).replace(
                b"<soap:Body>",
                b'<soap:Header><ca:Ticket soap:mustUnderstand="1">x</ca:Ticket></soap:Header><soap:Body>',
            ),
            _HEADERS,
            "soap:MustUnderstand",
            id="must-understand-header",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]>' + _request(HEAD.id_number),
            _HEADERS,
            "soap:Client",
            id="dtd",
        ),
        pytest.param(b"<soap:Envelope", _HEADERS, "soap:Client", id="not-well-formed"),
    ],
)
async def test_server_faults(agency: RunningAgency, body: bytes, headers: dict[str, str], faultcode: str) -> None:
    status, _, answer = await _post(agency.url + "/soap", body, headers)

    assert status == 500
    assert _body_element(answer).findtext("faultcode") == faultcode


async def test_server_wants_text_xml(agency: RunningAgency) -> None:
    status, _, _ = await _post(
        agency.url + "/soap", _request(HEAD.id_number), {**_HEADERS, "Content-Type": "application/soap+xml"}
    )

    assert status == 415


async def test_server_publishes_its_wsdl_and_xsd(agency: RunningAgency) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(agency.url + "/soap?wsdl") as response:
            assert response.status == 200
            wsdl = etree.fromstring(await response.read())
        async with session.get(agency.url + "/soap?xsd=1") as response:
            assert response.status == 200
            xsd = await response.read()

    address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == agency.url + "/soap"
    schema_import = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}import")
    assert schema_import is not None
    assert schema_import.get("schemaLocation") == agency.url + "/soap?xsd=1"
    assert xsd == _xsd_bytes()


# -- hostile and broken answers, served by a tiny stand-in agency ------------------------------------------

_GOOD_ANSWER = (
    f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>'
    f'<ca:QueryPersonsResponse xmlns:ca="{NAMESPACE}"><ca:ResponseHeader><ca:RequestId>ver-0001</ca:RequestId>'
    "<ca:DataAsOf>2026-10-31</ca:DataAsOf><ca:RespondedAt>2026-10-31T08:00:00+08:00</ca:RespondedAt>"
    f"</ca:ResponseHeader><ca:PersonRecord><ca:IdNumber>{HEAD.id_number}</ca:IdNumber><ca:Found>true</ca:Found>"
    "<ca:MaritalStatus><ca:StatusCode>20</ca:StatusCode><ca:RegistrationNo>HYDJ-0001</ca:RegistrationNo>"
    "</ca:MaritalStatus></ca:PersonRecord></ca:QueryPersonsResponse></soap:Body></soap:Envelope>"
)
_GOOD_ENVELOPE = _GOOD_ANSWER.split("?>", 1)[1]  # without the XML declaration, to put a DTD in front
_BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>'
) + _GOOD_ENVELOPE.replace("HYDJ-0001", "&lol5;")
_EXTERNAL_ENTITY = '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + (
    _GOOD_ENVELOPE.replace("HYDJ-0001", "&xxe;")
)
_SERVER_FAULT = (
    f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode>'
    "<faultstring>registry offline</faultstring></soap:Fault></soap:Body></soap:Envelope>"
)


async def _fetch_from(url: str, settings: AdapterSettings | None = None) -> tuple[Fact, ...]:
    client = CivilAffairsAdapter(url, settings)
    try:
        return (await client.fetch(_query(HEAD.id_number))).facts
    finally:
        await client.aclose()


async def test_only_identity_numbers_and_request_metadata_are_sent(stand_in: SoapStandIn) -> None:
    facts = await _fetch_from(stand_in.serve(200, "text/xml", _GOOD_ANSWER))

    ((headers, body),) = stand_in.requests
    assert headers["Content-Type"] == "text/xml; charset=utf-8"
    assert headers["SOAPAction"] == f'"{NAMESPACE}/QueryPersons"'
    sent = etree.fromstring(body)
    texts = [element.text for element in sent.iter() if element.text and element.text.strip()]
    assert texts == ["ver-0001", "dibao.application", "110101", HEAD.id_number]
    assert "姓名不外发".encode() not in body

    assert [(fact.code, fact.value, fact.record_id) for fact in facts] == [
        ("person.deceased", False, None),
        ("person.marital_status", "married", "HYDJ-0001"),
    ]


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        pytest.param(200, "text/xml", _BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(200, "text/xml", _EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(200, "text/xml", _GOOD_ANSWER.replace(">20<", ">99<"), id="schema-invalid"),
        pytest.param(200, "text/xml", _GOOD_ANSWER.replace(">ver-0001<", ">ver-0002<"), id="other-request"),
        pytest.param(200, "text/xml", _GOOD_ANSWER.replace(HEAD.id_number, SPOUSE.id_number), id="other-person"),
        pytest.param(
            200,
            "text/xml",
            _GOOD_ANSWER.replace("QueryPersonsResponse", "QueryPersons"),
            id="unexpected-element",
        ),
        pytest.param(200, "text/html", _GOOD_ANSWER, id="not-xml-content-type"),
        pytest.param(200, "text/xml", "<html><body>maintenance</body></html>", id="not-an-envelope"),
        pytest.param(
            500,
            "text/xml",
            _SERVER_FAULT.replace("soap:Server", "soap:Client"),
            id="client-fault",
        ),
        pytest.param(404, "text/plain", "not found", id="http-404"),
    ],
)
async def test_answers_outside_the_contract_are_protocol_errors(
    stand_in: SoapStandIn, status: int, content_type: str, body: str
) -> None:
    with pytest.raises(SourceProtocolError) as raised:
        await _fetch_from(stand_in.serve(status, content_type, body))

    assert "root:" not in str(raised.value)
    assert HEAD.id_number not in str(raised.value)


async def test_oversized_answer_is_refused(stand_in: SoapStandIn) -> None:
    url = stand_in.serve(200, "text/xml", _GOOD_ANSWER.replace("</soap:Body>", " " * 4096 + "</soap:Body>"))

    with pytest.raises(SourceProtocolError, match="larger than"):
        await _fetch_from(url, AdapterSettings(max_response_bytes=2048))


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        pytest.param(500, "text/xml", _SERVER_FAULT, id="server-fault"),
        pytest.param(200, "text/xml", _SERVER_FAULT, id="server-fault-with-200"),
        pytest.param(500, "text/xml", "<soap:Envelope", id="unreadable-500"),
        pytest.param(502, "text/html", "<html>bad gateway</html>", id="http-502"),
    ],
)
async def test_agency_failures_make_the_source_unavailable(
    stand_in: SoapStandIn, status: int, content_type: str, body: str
) -> None:
    with pytest.raises(SourceUnavailable):
        await _fetch_from(stand_in.serve(status, content_type, body))
