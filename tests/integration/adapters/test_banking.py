"""The bank-broker SOAP agency and its adapter, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import aiohttp
import pytest
from lxml import etree

from adapters.banking import BankingAdapter
from adapters.base import QueryMember, SourceQuery, SourceResult
from adapters.soap import SOAP_ENV_NS, contract_file
from adapters.testkit.banking import NAMESPACE, create_app
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import FinancialAsset, Household, Person, Population
from adapters.testkit.server import RunningAgency, start_agency
from gateway.errors import SourceProtocolError, SourceUnavailable
from gateway.ids import id_number_check_char
from tests.integration.adapters.soap_stand_in import SoapStandIn

AS_OF = date(2026, 10, 31)


def _id_number(first17: str) -> str:
    return first17 + id_number_check_char(first17)


def _person(first17: str, *assets: FinancialAsset) -> Person:
    return Person(
        _id_number(first17), "测试", "M", date(1970, 1, 1), "self", "510502000000001", "510502", assets=assets
    )


SAVER = _person(
    "51050219700101001",
    FinancialAsset("ICBC", "deposit", "6222020200112233445", 12000),
    FinancialAsset("CCB", "deposit", "6217000011112222", 3000),
    FinancialAsset("ICBC", "deposit", "6222020200998877665", 550),
    FinancialAsset("CITIC-SEC", "securities", "SEC-88001234", 20000),
    FinancialAsset("CHINA-LIFE", "insurance", "P2019000456789", 8000),
    FinancialAsset("PICC", "insurance", "PICC-77", 1500),
)
NO_ACCOUNTS = _person("51050219950505002")
UNKNOWN = _id_number("51050219990909009")

POPULATION = Population.of(seed=11, as_of=AS_OF, households=(Household("H-B", "510502", (SAVER, NO_ACCOUNTS)),))


def _query(*id_numbers: str, verification_id: str = "ver-0002") -> SourceQuery:
    members = tuple(QueryMember(index, number, "", "other") for index, number in enumerate(id_numbers))
    return SourceQuery(verification_id, "dibao.application", "510502", members, AS_OF)


@pytest.fixture
async def agency() -> AsyncIterator[RunningAgency]:
    faults = FaultInjector()
    running = await start_agency("banking", create_app(POPULATION, faults), faults)
    yield running
    await running.stop()


@pytest.fixture
async def adapter(agency: RunningAgency) -> AsyncIterator[BankingAdapter]:
    client = BankingAdapter(agency.url)
    yield client
    await client.aclose()


async def test_sums_per_kind_across_institutions(adapter: BankingAdapter) -> None:
    result = await adapter.fetch(_query(SAVER.id_number, NO_ACCOUNTS.id_number))

    assert result.adapter == "banking"
    assert [(fact.code, fact.member, fact.value, fact.record_id) for fact in result.facts] == [
        ("assets.deposits", 0, 15550, "ICBC/6222****3445;ICBC/6222****7665;CCB/6217****2222"),
        ("assets.securities", 0, 20000, "CITIC-SEC/SEC-****1234"),
        ("assets.insurance_cash_value", 0, 9500, "CHINA-LIFE/P201****6789;PICC/****C-77"),
        ("assets.deposits", 1, 0, None),
        ("assets.securities", 1, 0, None),
        ("assets.insurance_cash_value", 1, 0, None),
    ]
    assert all(isinstance(fact.value, int) for fact in result.facts)


async def test_provenance_lists_every_account(adapter: BankingAdapter) -> None:
    result = await adapter.fetch(_query(SAVER.id_number, NO_ACCOUNTS.id_number))

    assert result.provenance.agency == "banking"
    assert result.provenance.as_of == AS_OF
    assert sorted(result.provenance.record_ids) == sorted(
        [
            "ICBC/6222****3445",
            "ICBC/6222****7665",
            "CCB/6217****2222",
            "CITIC-SEC/SEC-****1234",
            "CHINA-LIFE/P201****6789",
            "PICC/****C-77",
        ]
    )


async def test_unknown_person_yields_no_facts(adapter: BankingAdapter) -> None:
    result = await adapter.fetch(_query(UNKNOWN, NO_ACCOUNTS.id_number))

    assert {fact.member for fact in result.facts} == {1}


async def test_malformed_answer_is_a_protocol_error(adapter: BankingAdapter, agency: RunningAgency) -> None:
    agency.faults.settings.malformed_rate = 1.0

    with pytest.raises(SourceProtocolError):
        await adapter.fetch(_query(SAVER.id_number))


async def test_injected_errors_make_the_source_unavailable(adapter: BankingAdapter, agency: RunningAgency) -> None:
    agency.faults.settings.error_rate = 1.0

    with pytest.raises(SourceUnavailable):
        await adapter.fetch(_query(SAVER.id_number))


# -- the simulated server, spoken to directly ------------------------------------------------------------


def _request(*id_numbers: str) -> bytes:
    numbers = "".join(f"<bk:IdNumber>{number}</bk:IdNumber>" for number in id_numbers)
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}" xmlns:bk="{NAMESPACE}"><soap:Body><bk:QueryFinancialAssets>'
        "<bk:RequestHeader><bk:RequestId>ver-0002</bk:RequestId><bk:PurposeCode>dibao.application"
        f"</bk:PurposeCode><bk:RegionCode>510502</bk:RegionCode></bk:RequestHeader>{numbers}"
        "</bk:QueryFinancialAssets></soap:Body></soap:Envelope>"
    ).encode()


async def _post(url: str, body: bytes) -> tuple[int, bytes]:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NAMESPACE}/QueryFinancialAssets"'}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status, await response.read()


def _body_element(answer: bytes) -> etree._Element:
    (element,) = etree.fromstring(answer).find(f"{{{SOAP_ENV_NS}}}Body")
    return element


async def test_server_answers_validate_against_the_xsd_and_mask_accounts(agency: RunningAgency) -> None:
    status, answer = await _post(agency.url + "/soap", _request(SAVER.id_number, NO_ACCOUNTS.id_number, UNKNOWN))

    assert status == 200
    schema = etree.XMLSchema(etree.parse(str(contract_file("banking", "banking.xsd"))))
    payload = _body_element(answer)
    assert schema.validate(payload), schema.error_log
    subjects = list(payload.iter(f"{{{NAMESPACE}}}SubjectAssets"))
    assert [subject.findtext(f"{{{NAMESPACE}}}Found") for subject in subjects] == ["true", "true", "false"]
    institutions = [code.text for code in subjects[0].iter(f"{{{NAMESPACE}}}InstitutionCode")]
    assert institutions == ["ICBC", "CCB", "CITIC-SEC", "CHINA-LIFE", "PICC"]
    for asset in SAVER.assets:
        assert asset.account_ref.encode() not in answer


async def test_server_rejects_schema_invalid_request_with_a_client_fault(agency: RunningAgency) -> None:
    status, answer = await _post(agency.url + "/soap", _request(SAVER.id_number[:-1] + "Y"))

    assert status == 500
    fault = _body_element(answer)
    assert fault.tag == f"{{{SOAP_ENV_NS}}}Fault"
    assert fault.findtext("faultcode") == "soap:Client"
    assert SAVER.id_number[:-1] not in str(fault.findtext("faultstring"))


# -- hostile and broken answers, served by a tiny stand-in broker ------------------------------------------

_GOOD_ANSWER = (
    f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><bk:QueryFinancialAssetsResponse xmlns:bk="{NAMESPACE}">'
    "<bk:ResponseHeader><bk:RequestId>ver-0002</bk:RequestId><bk:DataAsOf>2026-10-31</bk:DataAsOf>"
    "<bk:RespondedAt>2026-10-31T08:00:00Z</bk:RespondedAt></bk:ResponseHeader><bk:SubjectAssets>"
    f"<bk:IdNumber>{SAVER.id_number}</bk:IdNumber><bk:Found>true</bk:Found><bk:InstitutionAssets>"
    "<bk:InstitutionCode>BOC</bk:InstitutionCode><bk:Account><bk:AccountRef>6013****0001</bk:AccountRef>"
    "<bk:AccountKind>DEPOSIT</bk:AccountKind><bk:Amount>1234.56</bk:Amount></bk:Account></bk:InstitutionAssets>"
    "</bk:SubjectAssets></bk:QueryFinancialAssetsResponse></soap:Body></soap:Envelope>"
)


async def _fetch_from(url: str) -> SourceResult:
    client = BankingAdapter(url)
    try:
        return await client.fetch(_query(SAVER.id_number))
    finally:
        await client.aclose()


async def test_stand_in_cents_are_kept(stand_in: SoapStandIn) -> None:
    result = await _fetch_from(stand_in.serve(200, "text/xml", _GOOD_ANSWER))

    assert [(fact.code, fact.value) for fact in result.facts] == [
        ("assets.deposits", 1234.56),
        ("assets.securities", 0),
        ("assets.insurance_cash_value", 0),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            '<!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
            + _GOOD_ANSWER.replace(">BOC<", ">&d;<"),
            id="entity-expansion",
        ),
        pytest.param(
            '<!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _GOOD_ANSWER.replace(">BOC<", ">&x;<"),
            id="external-entity",
        ),
        pytest.param(_GOOD_ANSWER.replace(">1234.56<", ">-5.00<"), id="negative-amount"),
        pytest.param(_GOOD_ANSWER.replace(">DEPOSIT<", ">CRYPTO<"), id="unknown-kind"),
        pytest.param(_GOOD_ANSWER.replace(">6013****0001<", ">6013000000000001<"), id="unmasked-account"),
        pytest.param(_GOOD_ANSWER.replace("<bk:Found>true</bk:Found>", ""), id="missing-found"),
    ],
)
async def test_answers_outside_the_contract_are_protocol_errors(stand_in: SoapStandIn, body: str) -> None:
    with pytest.raises(SourceProtocolError) as raised:
        await _fetch_from(stand_in.serve(200, "text/xml", body))

    assert "root:" not in str(raised.value)
    assert SAVER.id_number not in str(raised.value)


async def test_server_fault_makes_the_source_unavailable(stand_in: SoapStandIn) -> None:
    fault = (
        f'<s:Envelope xmlns:s="{SOAP_ENV_NS}"><s:Body><s:Fault><faultcode>s:Server.Timeout</faultcode>'
        "<faultstring>institution CCB did not answer</faultstring></s:Fault></s:Body></s:Envelope>"
    )

    with pytest.raises(SourceUnavailable):
        await _fetch_from(stand_in.serve(500, "text/xml", fault))
