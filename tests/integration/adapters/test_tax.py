"""The tax adapter against the simulated tax agency and against hostile servers, all on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from adapters.base import Adapter, AdapterSettings, Fact, QueryMember, SourceQuery
from adapters.tax import NAMESPACE, TaxAdapter, qname, reporting_months, request_schema, response_schema
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Business, Household, Person, Population
from adapters.testkit.server import RunningAgency, start_agency
from adapters.testkit.tax import create_app
from adapters.xmlsafe import load_schema, parse_xml, validate
from gateway.errors import InvalidInput, RecordMismatch, SourceProtocolError, SourceUnavailable
from gateway.ids import credit_code_check_char, id_number_check_char

AS_OF = date(2026, 7, 1)
MONTHS = (
    "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12",
    "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06",
)  # fmt: skip
REQUEST_ID = "0b7c6a52-5f0e-4c1e-9a51-2f3d1c9e8a10"
CONTRACT_DIR = Path(__file__).resolve().parents[3] / "contracts" / "agencies" / "tax"


def _id_number(division: str, birth: date, sequence: int) -> str:
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    return first17 + id_number_check_char(first17)


def _credit_code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


WORKER = Person(
    id_number=_id_number("110101", date(1978, 3, 14), 123),
    name="张建国",
    sex="M",
    birth_date=date(1978, 3, 14),
    relation="self",
    hukou_id="110101000123",
    hukou_region="110101",
    wages=tuple(3000 + 17 * month for month in range(12)),
    business_income=(0, 0, 450, 0, -120, 0, 0, 800, 0, 0, 0, 1210),
    businesses=(
        Business(_credit_code("92110101MA01ABCD1"), "东城区建国便利店", 50000),
        Business(_credit_code("91110101MA02XYRW8"), "北京建国商贸有限公司", 1000000),
    ),
    medical_expenses_12m=23500,
)
RETIREE = Person(
    id_number=_id_number("110101", date(1950, 11, 2), 284),
    name="李秀英",
    sex="F",
    birth_date=date(1950, 11, 2),
    relation="parent",
    hukou_id="110101000123",
    hukou_region="110101",
    pension=(2100,) * 6 + (2180,) * 6,
)
VALID_CREDIT_CODE = WORKER.businesses[0].credit_code
STRANGER_ID = _id_number("510502", date(1990, 1, 1), 15)


def _population() -> Population:
    household = Household("H-110101-000123", "110101", (WORKER, RETIREE))
    return Population.of(seed=7, as_of=AS_OF, households=(household,))


def _query(*people: Person | str, as_of: date = AS_OF) -> SourceQuery:
    members = tuple(
        QueryMember(index, person, "某人", "other")
        if isinstance(person, str)
        else QueryMember(index, person.id_number, person.name, person.relation)
        for index, person in enumerate(people)
    )
    return SourceQuery(REQUEST_ID, "dibao.application", "110101", members, as_of)


@pytest.fixture
async def agency() -> AsyncIterator[RunningAgency]:
    faults = FaultInjector()
    running = await start_agency("tax", create_app(_population(), faults), faults)
    yield running
    await running.stop()


@pytest.fixture
async def adapter(agency: RunningAgency) -> AsyncIterator[TaxAdapter]:
    tax = TaxAdapter(agency.url)
    yield tax
    await tax.aclose()


Serve = Callable[..., Awaitable[TaxAdapter]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a tiny agency that answers every income query with fixed bytes; returns an adapter for it."""
    started: list[tuple[RunningAgency, TaxAdapter]] = []

    async def start(
        body: bytes, *, status: int = 200, content_type: str = "application/xml", seen: list[bytes] | None = None
    ) -> TaxAdapter:
        async def answer(request: web.Request) -> web.Response:
            if seen is not None:
                seen.append(await request.read())
            return web.Response(status=status, body=body, content_type=content_type)

        app = web.Application()
        app.router.add_post("/xml/income-query", answer)
        faults = FaultInjector()
        running = await start_agency("hostile", app, faults)
        tax = TaxAdapter(running.url)
        started.append((running, tax))
        return tax

    yield start
    for running, tax in started:
        await tax.aclose()
        await running.stop()


def _result_doc(
    *,
    months: tuple[str, ...] = MONTHS,
    request_id: str = REQUEST_ID,
    wages: str = "0.00",
    business: str = "",
    taxpayer: str | None = None,
) -> bytes:
    """A minimal answer about one person (ref 0); each test breaks one thing in it."""
    month_xml = "".join(
        f'<month period="{month}"><wages>{wages}</wages><businessIncome>0.00</businessIncome>'
        "<pension>0.00</pension></month>"
        for month in months
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><incomeQueryResult xmlns="{NAMESPACE}" version="1">'
        f"<requestId>{request_id}</requestId><asOf>2026-07-01</asOf>"
        '<window from="2025-07" to="2026-06"/><issuedAt>2026-07-01T08:00:00Z</issuedAt>'
        f'<person ref="0" taxpayerId="{taxpayer or WORKER.id_number}">'
        f"{month_xml}{business}<medicalExpenses12m>0.00</medicalExpenses12m></person>"
        "</incomeQueryResult>"
    ).encode()


def _business_xml(credit_code: str) -> str:
    return (
        f'<registeredBusiness creditCode="{credit_code}" recordId="TR-1"><name>x</name>'
        "<registeredCapital>1.00</registeredCapital></registeredBusiness>"
    )


def _error_doc(code: str) -> bytes:
    return (
        f'<incomeQueryError xmlns="{NAMESPACE}" version="1"><code>{code}</code>'
        "<message>SCHEMAV_CVC_PATTERN_VALID at /*/*[4]/*/*</message></incomeQueryError>"
    ).encode()


def _comparable(fact: Fact) -> tuple[object, ...]:
    value = tuple(sorted(fact.value.items())) if isinstance(fact.value, dict) else fact.value
    return (fact.code, fact.member, value, fact.period)


def _expected_facts(people: tuple[Person, ...]) -> list[tuple[object, ...]]:
    expected: list[tuple[object, ...]] = []
    for index, person in enumerate(people):
        for position, month in enumerate(MONTHS):
            expected.append(("income.wages", index, person.wages[position], month))
            expected.append(("income.business", index, person.business_income[position], month))
            expected.append(("income.pension", index, person.pension[position], month))
        for business in person.businesses:
            value = {
                "credit_code": business.credit_code,
                "name": business.name,
                "registered_capital": business.registered_capital,
            }
            expected.append(("business.registered", index, tuple(sorted(value.items())), None))
        expected.append(("expense.medical_12m", index, person.medical_expenses_12m, None))
    return expected


# -- the simulated agency, end to end ------------------------------------------------------------------


async def test_every_fact_of_every_member_with_provenance(adapter: TaxAdapter) -> None:
    result = await adapter.fetch(_query(WORKER, RETIREE))

    assert isinstance(adapter, Adapter)
    assert (adapter.name, adapter.categories) == ("tax", frozenset({"tax"}))
    assert result.adapter == "tax"
    assert [_comparable(fact) for fact in result.facts] == _expected_facts((WORKER, RETIREE))
    for fact in result.facts:
        recorded = fact.code == "business.registered" or fact.value != 0
        assert (fact.record_id is not None) == recorded, fact
    record_ids = tuple(fact.record_id for fact in result.facts if fact.record_id is not None)
    assert result.provenance.agency == "tax"
    assert result.provenance.as_of == AS_OF
    assert result.provenance.record_ids == record_ids
    assert len(set(record_ids)) == len(record_ids)
    assert not any(person.id_number in record_id for person in (WORKER, RETIREE) for record_id in record_ids)


async def test_record_ids_are_stable_for_the_same_record(adapter: TaxAdapter) -> None:
    first = await adapter.fetch(_query(WORKER))
    second = await adapter.fetch(_query(RETIREE, WORKER))

    worker_again = [fact.record_id for fact in second.facts if fact.member == 1]
    assert worker_again == [fact.record_id for fact in first.facts]


async def test_window_is_the_12_calendar_months_before_the_month_of_as_of(adapter: TaxAdapter) -> None:
    assert reporting_months(date(2026, 7, 1)) == MONTHS
    assert reporting_months(date(2026, 7, 31)) == MONTHS
    assert reporting_months(date(2026, 1, 15)) == tuple(f"2025-{month:02d}" for month in range(1, 13))

    result = await adapter.fetch(_query(RETIREE, as_of=date(2026, 7, 20)))

    periods = [fact.period for fact in result.facts if fact.code == "income.pension"]
    assert periods == list(MONTHS)


async def test_as_of_later_than_the_population_answers_zero_for_months_not_covered(adapter: TaxAdapter) -> None:
    result = await adapter.fetch(_query(WORKER, as_of=date(2026, 10, 1)))

    wages = {fact.period: fact.value for fact in result.facts if fact.code == "income.wages"}
    assert list(wages) == [*MONTHS[3:], "2026-07", "2026-08", "2026-09"]
    assert list(wages.values()) == [*WORKER.wages[3:], 0, 0, 0]
    medical = [fact.value for fact in result.facts if fact.code == "expense.medical_12m"]
    assert medical == [WORKER.medical_expenses_12m]


async def test_as_of_without_overlap_answers_only_zero_income(adapter: TaxAdapter) -> None:
    result = await adapter.fetch(_query(WORKER, as_of=date(2024, 3, 1)))

    income = [fact for fact in result.facts if fact.code.startswith("income.")]
    assert len(income) == 36
    assert {(fact.value, fact.record_id) for fact in income} == {(0, None)}
    assert [fact.period for fact in income[::3]] == list(reporting_months(date(2024, 3, 1)))


async def test_unknown_person_has_no_facts_and_others_are_answered(adapter: TaxAdapter) -> None:
    result = await adapter.fetch(_query(STRANGER_ID, RETIREE))

    assert {fact.member for fact in result.facts} == {1}
    shifted = [(code, 1, value, period) for code, _, value, period in _expected_facts((RETIREE,))]
    assert [_comparable(fact) for fact in result.facts] == shifted


async def test_health_and_an_agency_that_is_gone(agency: RunningAgency, adapter: TaxAdapter) -> None:
    assert await adapter.health() is True
    await agency.stop()
    assert await adapter.health() is False
    with pytest.raises(SourceUnavailable):
        await adapter.fetch(_query(WORKER))


async def test_aclose_then_reuse_opens_a_new_session(adapter: TaxAdapter) -> None:
    await adapter.aclose()
    await adapter.aclose()
    assert await adapter.health() is True


async def test_no_members_sends_nothing(agency: RunningAgency, adapter: TaxAdapter) -> None:
    result = await adapter.fetch(_query())

    assert result.facts == ()
    assert agency.faults.total_requests == 0


async def test_invalid_member_is_refused_before_sending(agency: RunningAgency, adapter: TaxAdapter) -> None:
    bad = WORKER.id_number[:-1] + "Y"

    with pytest.raises(InvalidInput) as caught:
        await adapter.fetch(_query(RETIREE, bad))

    assert agency.faults.total_requests == 0
    assert bad not in str(caught.value)


async def test_request_carries_identity_numbers_but_no_names(serve: Serve) -> None:
    seen: list[bytes] = []
    tax = await serve(_result_doc(), seen=seen)

    await tax.fetch(_query(WORKER))

    (body,) = seen
    request = parse_xml(body)
    validate(request_schema(), request, "request")
    assert request.findtext(qname("requestId")) == REQUEST_ID
    assert request.findtext(qname("purpose")) == "dibao.application"
    assert request.findtext(qname("asOf")) == "2026-07-01"
    assert [person.get("ref") for person in request.iter(qname("person"))] == ["0"]
    assert [element.text for element in request.iter(qname("idNumber"))] == [WORKER.id_number]
    assert WORKER.name.encode() not in body


# -- faults of the simulated agency -------------------------------------------------------------------


async def test_malformed_answer_is_a_protocol_error(agency: RunningAgency, adapter: TaxAdapter) -> None:
    agency.faults.settings.malformed_rate = 1.0

    with pytest.raises(SourceProtocolError, match="malformed XML"):
        await adapter.fetch(_query(WORKER))


async def test_server_error_is_unavailable(agency: RunningAgency, adapter: TaxAdapter) -> None:
    agency.faults.settings.error_rate = 1.0

    with pytest.raises(SourceUnavailable):
        await adapter.fetch(_query(WORKER))


async def test_oversized_answer_is_refused(agency: RunningAgency) -> None:
    tax = TaxAdapter(agency.url, AdapterSettings(max_response_bytes=4096))
    try:
        with pytest.raises(SourceProtocolError, match="larger than 4096 bytes"):
            await tax.fetch(_query(WORKER, RETIREE))
        assert len((await tax.fetch(_query(STRANGER_ID))).facts) == 0  # a small answer still passes
    finally:
        await tax.aclose()


# -- answers outside the contract ----------------------------------------------------------------------


async def test_the_minimal_answer_used_below_is_valid(serve: Serve) -> None:
    tax = await serve(_result_doc(wages="1234.50"))

    result = await tax.fetch(_query(WORKER))

    assert len(result.facts) == 37
    assert result.facts[0] == Fact("income.wages", 0, 1234.5, period="2025-07")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_result_doc(months=MONTHS[:11]), id="11-months"),
        pytest.param(_result_doc(wages="12.345"), id="amount-with-3-decimals"),
        pytest.param(_result_doc(wages="-5.00"), id="negative-wages"),
        pytest.param(_result_doc(months=(*MONTHS[:11], MONTHS[0])), id="month-twice"),
        pytest.param(_result_doc().replace(NAMESPACE.encode(), b"urn:other"), id="foreign-namespace"),
        pytest.param(_result_doc(business=_business_xml("ABC")), id="credit-code-shape"),
    ],
)
async def test_schema_invalid_answer_is_a_protocol_error(serve: Serve, body: bytes) -> None:
    tax = await serve(body)

    with pytest.raises(SourceProtocolError, match="does not match its XSD"):
        await tax.fetch(_query(WORKER))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_result_doc(request_id="another-request"), "another request"),
        (_result_doc(months=(MONTHS[1], MONTHS[0], *MONTHS[2:])), "12 months before asOf"),
        (_result_doc().replace(b'from="2025-07"', b'from="2025-06"'), "window"),
        (_result_doc().replace(b'ref="0"', b'ref="3"'), "exactly the persons"),
        (_result_doc(business=_business_xml(VALID_CREDIT_CODE[:-1] + "0")), "invalid credit code"),
        (_error_doc("schema_invalid"), "not an incomeQueryResult"),
    ],
)
async def test_valid_answer_that_does_not_fit_the_request_is_a_protocol_error(
    serve: Serve, body: bytes, reason: str
) -> None:
    tax = await serve(body)

    with pytest.raises(SourceProtocolError, match=reason):
        await tax.fetch(_query(WORKER))


async def test_records_about_another_taxpayer_are_a_record_mismatch(serve: Serve) -> None:
    """Issue 11 defect 7: ``ref`` is a position; the records are kept only when ``taxpayerId`` names the
    number asked about there."""
    tax = await serve(_result_doc(taxpayer=RETIREE.id_number))

    with pytest.raises(RecordMismatch, match="another taxpayer") as raised:
        await tax.fetch(_query(WORKER))
    assert WORKER.id_number not in str(raised.value) and RETIREE.id_number not in str(raised.value)


async def test_refusal_reports_the_agency_error_code(serve: Serve) -> None:
    tax = await serve(_error_doc("schema_invalid"), status=400)

    with pytest.raises(SourceProtocolError, match="HTTP 400 schema_invalid"):
        await tax.fetch(_query(WORKER))


async def test_throttling_is_unavailable(serve: Serve) -> None:
    tax = await serve(b"slow down", status=429, content_type="text/plain")

    with pytest.raises(SourceUnavailable, match="429"):
        await tax.fetch(_query(WORKER))


async def test_answer_that_is_not_xml_is_a_protocol_error(serve: Serve) -> None:
    tax = await serve(_result_doc(), content_type="text/html")

    with pytest.raises(SourceProtocolError, match="not XML"):
        await tax.fetch(_query(WORKER))


# -- hostile answers -----------------------------------------------------------------------------------

# Ten levels of ten-fold entities: 10^9 "lol"s for a parser that expands them.
_BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE incomeQueryResult [\n <!ENTITY lol0 "lol">\n'
    + "".join(f' <!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">\n' for level in range(1, 10))
    + f']>\n<incomeQueryResult xmlns="{NAMESPACE}" version="1"><requestId>&lol9;</requestId>'
    "</incomeQueryResult>"
).encode()


def _external_entity_doc(system_id: str, encoding: str = "utf-8") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<!DOCTYPE incomeQueryResult [\n <!ENTITY xxe SYSTEM "{system_id}">\n]>\n'
        f'<incomeQueryResult xmlns="{NAMESPACE}" version="1"><requestId>&xxe;</requestId>'
        "</incomeQueryResult>"
    ).encode(encoding)


# UTF-8 is refused by the byte scan before parsing; UTF-32 gets past it, so libxml2 parses the DTD without
# loading the entity, and the check after parsing refuses it.
_ENCODINGS = pytest.mark.parametrize("encoding", ["utf-8", "utf-32"])


def _error_text(error: BaseException) -> str:
    """Everything an error could show: its message, repr and the whole cause chain."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


async def test_entity_expansion_bomb_is_refused_unexpanded(serve: Serve) -> None:
    assert len(_BILLION_LAUGHS) < 2000  # a billion "lol"s if any parser expanded it
    tax = await serve(_BILLION_LAUGHS)

    with pytest.raises(SourceProtocolError) as caught:
        await tax.fetch(_query(WORKER))

    assert caught.value.detail == "XML with a document type declaration is refused"


@pytest.fixture
def passwd_first_line() -> str:
    line = Path("/etc/passwd").read_text().splitlines()[0]
    assert line.startswith("root:")
    return line


@_ENCODINGS
async def test_external_file_entity_is_refused_and_never_read(
    serve: Serve, caplog: pytest.LogCaptureFixture, passwd_first_line: str, encoding: str
) -> None:
    tax = await serve(_external_entity_doc("file:///etc/passwd", encoding))

    with pytest.raises(SourceProtocolError) as caught:
        await tax.fetch(_query(WORKER))

    assert caught.value.detail == "XML with a document type declaration is refused"
    assert passwd_first_line not in _error_text(caught.value)
    assert passwd_first_line not in caplog.text


@_ENCODINGS
async def test_external_network_entity_is_refused_and_never_fetched(serve: Serve, encoding: str) -> None:
    hits: list[str] = []

    async def canary(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="canary")

    app = web.Application()
    app.router.add_get("/{tail:.*}", canary)
    canary_agency = await start_agency("canary", app, FaultInjector())
    try:
        tax = await serve(_external_entity_doc(f"{canary_agency.url}/entity", encoding))
        with pytest.raises(SourceProtocolError) as caught:
            await tax.fetch(_query(WORKER))
        async with aiohttp.ClientSession() as session, session.get(f"{canary_agency.url}/alive"):
            pass
    finally:
        await canary_agency.stop()
    assert hits == ["/alive"]  # the canary works, and only the test itself called it
    assert caught.value.detail == "XML with a document type declaration is refused"


# -- the simulated agency's own checks -----------------------------------------------------------------


async def _post(agency: RunningAgency, body: bytes, content_type: str = "application/xml") -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{agency.url}/xml/income-query", data=body, headers={"Content-Type": content_type}) as reply,
    ):
        return reply.status, await reply.read()


def _request_doc(id_number: str, *, as_of: str = "2026-07-01") -> bytes:
    return (
        f'<incomeQuery xmlns="{NAMESPACE}" version="1"><requestId>r-1</requestId>'
        f"<purpose>dibao.application</purpose><asOf>{as_of}</asOf>"
        f'<persons><person ref="0"><idNumber>{id_number}</idNumber></person></persons></incomeQuery>'
    ).encode()


def _error_code(status: int, body: bytes) -> tuple[int, str]:
    error = parse_xml(body)
    validate(response_schema(), error, "error")
    assert error.tag == qname("incomeQueryError")
    return status, error.findtext(qname("code"))


async def test_server_answers_a_valid_request_with_a_valid_document(agency: RunningAgency) -> None:
    status, body = await _post(agency, _request_doc(WORKER.id_number))

    assert status == 200
    answer = parse_xml(body)
    validate(response_schema(), answer, "answer")
    assert answer.find(f"{qname('person')}/{qname('noRecord')}") is None


async def test_server_rejects_a_schema_invalid_request_with_400(agency: RunningAgency) -> None:
    bad_number = WORKER.id_number[:6] + "19781340" + WORKER.id_number[14:]  # month 13

    status, body = await _post(agency, _request_doc(bad_number))

    assert _error_code(status, body) == (400, "schema_invalid")
    assert bad_number.encode() not in body


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<incomeQuery", "application/xml", (400, "malformed_xml")),
        (_external_entity_doc("file:///etc/passwd"), "application/xml", (400, "malformed_xml")),
        (_request_doc(WORKER.id_number, as_of="2026-07-01Z"), "text/xml", (400, "schema_invalid")),
        (_request_doc(WORKER.id_number), "text/plain", (415, "unsupported_media_type")),
        (b"<a>" + b" " * 300_000 + b"</a>", "application/xml", (413, "request_too_large")),
    ],
    ids=["truncated", "doctype", "date-with-zone", "not-xml", "too-large"],
)
async def test_server_refuses_bad_requests(
    agency: RunningAgency, body: bytes, content_type: str, expected: tuple[int, str]
) -> None:
    assert _error_code(*await _post(agency, body, content_type)) == expected


@pytest.mark.parametrize("name", ["income-query-request.xml", "income-query-response.xml", "income-query-error.xml"])
def test_contract_examples_match_their_schemas(name: str) -> None:
    schemas = {"request": load_schema(CONTRACT_DIR / "income-query-request.xsd")}
    schemas["response"] = schemas["error"] = load_schema(CONTRACT_DIR / "income-query-response.xsd")
    kind = name.removeprefix("income-query-").removesuffix(".xml")

    validate(schemas[kind], parse_xml((CONTRACT_DIR / "examples" / name).read_bytes()), name)
