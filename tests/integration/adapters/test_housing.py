"""HousingAdapter against the simulated housing agency, over real HTTP on 127.0.0.1.

The JSON client both REST adapters share (adapters.rest) is probed with hostile answers in test_hukou.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from adapters.base import Fact, JsonScalar, QueryMember, SourceQuery
from adapters.housing import HousingAdapter
from adapters.testkit.faults import FaultInjector
from adapters.testkit.housing import create_app
from adapters.testkit.population import Household, Person, Population, Property, generate
from adapters.testkit.server import start_agency
from gateway.errors import SourceProtocolError, SourceUnavailable
from gateway.ids import id_number_check_char
from tests.integration.adapters.rest_agency import (
    RecordedAgency,
    openapi_document,
    openapi_validator,
    response_schema,
    start_recorded_agency,
)

CONTRACT = Path(__file__).parents[3] / "contracts" / "agencies" / "housing" / "openapi.yaml"
REAL_ESTATE = "/api/v1/real-estate/query"
PROVIDENT_FUND = "/api/v1/provident-fund/query"
AS_OF = date(2026, 7, 1)


def _id(first17: str) -> str:
    return first17 + id_number_check_char(first17)


HUSBAND = _id("11010119800101001")
WIFE = _id("11010119820202002")
SON = _id("11010120120303003")
LANDLADY = _id("51050219600404004")
UNKNOWN = _id("45090219900101003")
ALL_IDS = (HUSBAND, WIFE, SON, LANDLADY, UNKNOWN)

JOINT_HOME = Property("京(2015)东城区不动产权第0012345号", "residential", 89.5, "110101")
SHOP = Property("京(2018)朝阳区不动产权第0098765号", "commercial", 45.0, "110105")
FLAT_1 = Property("川(2019)泸州市不动产权第0001111号", "residential", 120.0, "510502")
FLAT_2 = Property("川(2021)泸州市不动产权第0002222号", "residential", 66.25, "510502")

POPULATION = Population.of(
    seed=11,
    as_of=AS_OF,
    households=(
        Household(
            household_id="h1",
            region="110101",
            members=(
                Person(
                    HUSBAND, "赵卫东", "M", date(1980, 1, 1), "self", "110101000777", "110101",
                    properties=(JOINT_HOME, SHOP),
                ),
                Person(
                    WIFE, "钱丽华", "F", date(1982, 2, 2), "spouse", "110101000777", "110101",
                    properties=(JOINT_HOME,), provident_fund_balance=23456,
                ),
                Person(SON, "赵小龙", "M", date(2012, 3, 3), "child", "110101000777", "110101"),
            ),
        ),
        Household(
            household_id="h2",
            region="510502",
            members=(
                Person(
                    LANDLADY, "孙桂芳", "F", date(1960, 4, 4), "self", "510502000888", "510502",
                    properties=(FLAT_1, FLAT_2), provident_fund_balance=8000,
                ),
            ),
        ),
    ),
)  # fmt: skip


def _query(*id_numbers: str) -> SourceQuery:
    members = tuple(QueryMember(index, number, "某某", "self") for index, number in enumerate(id_numbers))
    return SourceQuery("v-2026-000456", "dibao.application", "110101", members, AS_OF)


def _holding(member: int, kind: str, holding: Property, record: str) -> Fact:
    value: dict[str, JsonScalar] = {
        "certificate": holding.certificate,
        "area_m2": holding.area_m2,
        "region": holding.region,
    }
    return Fact(f"property.{kind}", member, value, record_id=record)


@pytest.fixture
async def agency() -> AsyncIterator[RecordedAgency]:
    faults = FaultInjector()
    recorded = await start_recorded_agency("housing", create_app(POPULATION, faults), faults)
    yield recorded
    await recorded.running.stop()


@pytest.fixture
async def adapter(agency: RecordedAgency) -> AsyncIterator[HousingAdapter]:
    adapter = HousingAdapter(agency.running.url)
    yield adapter
    await adapter.aclose()


async def test_every_fact_is_mapped(adapter: HousingAdapter) -> None:
    result = await adapter.fetch(_query(*ALL_IDS))

    assert result.adapter == "housing"
    assert list(result.facts) == [
        _holding(0, "residential", JOINT_HOME, "BDC0000000001"),
        _holding(0, "commercial", SHOP, "BDC0000000002"),
        _holding(1, "residential", JOINT_HOME, "BDC0000000001"),
        Fact("provident_fund.balance", 1, 23456, record_id="GJJ0000000001"),
        _holding(3, "residential", FLAT_1, "BDC0000000003"),
        _holding(3, "residential", FLAT_2, "BDC0000000004"),
        Fact("provident_fund.balance", 3, 8000, record_id="GJJ0000000002"),
    ]
    assert result.provenance.agency == "housing"
    assert result.provenance.as_of == AS_OF
    assert result.provenance.record_ids == (
        "BDC0000000001",
        "BDC0000000002",
        "GJJ0000000001",
        "BDC0000000003",
        "BDC0000000004",
        "GJJ0000000002",
    )


async def test_a_joint_home_is_the_same_certificate_for_both_spouses(
    adapter: HousingAdapter, agency: RecordedAgency
) -> None:
    result = await adapter.fetch(_query(HUSBAND, WIFE))

    homes = [fact for fact in result.facts if fact.code == "property.residential"]
    assert [fact.member for fact in homes] == [0, 1]
    assert (
        homes[0].value == homes[1].value == {"certificate": JOINT_HOME.certificate, "area_m2": 89.5, "region": "110101"}
    )
    assert homes[0].record_id == homes[1].record_id
    estate = next(exchange for exchange in agency.log if exchange.path == REAL_ESTATE)
    answered = json.loads(estate.response_body)["data"]["results"]
    ownership = {
        holding["certificateNo"]: holding["ownership"] for result in answered for holding in result["properties"]
    }
    assert ownership == {JOINT_HOME.certificate: "JOINT", SHOP.certificate: "SOLE"}


async def test_people_without_holdings_or_account_have_no_facts(adapter: HousingAdapter) -> None:
    result = await adapter.fetch(_query(SON, UNKNOWN))

    assert result.facts == ()
    assert result.provenance.record_ids == ()
    assert result.provenance.as_of == AS_OF


async def test_requests_carry_identity_numbers_only_in_the_body(
    adapter: HousingAdapter, agency: RecordedAgency
) -> None:
    await adapter.fetch(_query(*ALL_IDS))

    assert sorted(exchange.path for exchange in agency.log) == [PROVIDENT_FUND, REAL_ESTATE]
    for exchange in agency.log:
        assert not any(number in exchange.url for number in ALL_IDS)
        body = json.loads(exchange.request_body)
        # Only what the agency needs: no names, no relations as the requester stated them.
        assert set(body) == {"requestId", "verificationId", "purpose", "region", "persons"}
        assert [person["idNumber"] for person in body["persons"]] == list(ALL_IDS)
        assert all(set(person) == {"seq", "idNumber"} for person in body["persons"])
        assert "某某" not in exchange.request_body.decode()


async def test_request_counters_increase(adapter: HousingAdapter, agency: RecordedAgency) -> None:
    await adapter.fetch(_query(HUSBAND))
    await adapter.fetch(_query(WIFE, SON))

    assert agency.faults.requests[REAL_ESTATE] == 2
    assert agency.faults.requests[PROVIDENT_FUND] == 2
    assert agency.faults.total_requests == 4


async def test_a_malformed_answer_is_a_protocol_error(adapter: HousingAdapter, agency: RecordedAgency) -> None:
    agency.faults.settings.malformed_rate = 1

    with pytest.raises(SourceProtocolError) as raised:
        await adapter.fetch(_query(*ALL_IDS))
    assert not any(number in str(raised.value) for number in ALL_IDS)
    assert all(exchange.status == 200 for exchange in agency.log)  # the agency did answer, just not in JSON


async def test_a_failing_agency_is_unavailable(adapter: HousingAdapter, agency: RecordedAgency) -> None:
    agency.faults.settings.error_rate = 1

    with pytest.raises(SourceUnavailable):
        await adapter.fetch(_query(HUSBAND))
    assert agency.faults.total_requests >= 1


async def test_the_session_is_reopened_after_aclose(adapter: HousingAdapter) -> None:
    await adapter.fetch(_query(WIFE))
    await adapter.aclose()

    result = await adapter.fetch(_query(WIFE))
    assert Fact("provident_fund.balance", 0, 23456, record_id="GJJ0000000001") in result.facts


async def test_generated_scenario_households_match_the_population() -> None:
    population = generate(households=5)
    faults = FaultInjector()
    running = await start_agency("housing", create_app(population, faults), faults)
    adapter = HousingAdapter(running.url)
    try:
        for scenario in population.scenarios:
            people = population.household(scenario.household_id).members
            members = tuple(QueryMember(n, p.id_number, p.name, p.relation) for n, p in enumerate(people))
            query = SourceQuery("v-1", scenario.purpose, scenario.region, members, population.as_of)
            result = await adapter.fetch(query)
            for n, person in enumerate(people):
                mine = [fact for fact in result.facts if fact.member == n]
                held = [(f.code, f.value) for f in mine if f.code.startswith("property.")]
                assert held == [
                    (f"property.{p.kind}", {"certificate": p.certificate, "area_m2": p.area_m2, "region": p.region})
                    for p in person.properties
                ], scenario.name
                balances = [f.value for f in mine if f.code == "provident_fund.balance"]
                assert balances == ([person.provident_fund_balance] if person.provident_fund_balance else [])
    finally:
        await adapter.aclose()
        await running.stop()
    two_homes = population.household(population.scenario("two_homes").household_id).members
    assert sum(len(person.properties) for person in two_homes) == 3  # the joint home counted for each owner


# -- the OpenAPI contract ---------------------------------------------------------------------------------


def test_the_contract_is_openapi_3_1_and_its_examples_are_valid() -> None:
    document = openapi_document(CONTRACT)

    assert document["openapi"].startswith("3.1.")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    request_example = document["paths"][REAL_ESTATE]["post"]["requestBody"]["content"]["application/json"]
    openapi_validator(document, request_example["schema"]).validate(request_example["example"])
    for path in (REAL_ESTATE, PROVIDENT_FUND):
        answer = document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        openapi_validator(document, answer["schema"]).validate(answer["example"])


async def test_real_exchanges_follow_the_contract(adapter: HousingAdapter, agency: RecordedAgency) -> None:
    document = openapi_document(CONTRACT)
    await adapter.fetch(_query(*ALL_IDS))
    async with aiohttp.ClientSession() as session:
        async with session.get(agency.running.url + "/health") as response:
            assert response.status == 200
        async with session.post(
            agency.running.url + PROVIDENT_FUND, data=b"[]", headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400

    assert sorted((exchange.path, exchange.status) for exchange in agency.log) == [
        (PROVIDENT_FUND, 200),
        (PROVIDENT_FUND, 400),
        (REAL_ESTATE, 200),
        ("/health", 200),
    ]
    for exchange in agency.log:
        method = exchange.method.lower()
        if exchange.status == 200 and exchange.request_body:
            request_schema = document["paths"][exchange.path][method]["requestBody"]["content"]["application/json"]
            openapi_validator(document, request_schema["schema"]).validate(json.loads(exchange.request_body))
        schema = response_schema(document, exchange.path, method, exchange.status, exchange.content_type)
        openapi_validator(document, schema).validate(json.loads(exchange.response_body))


@pytest.mark.parametrize("path", [REAL_ESTATE, PROVIDENT_FUND])
@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"not json", "1001", id="not JSON"),
        pytest.param(b'{"persons": []}', "1002", id="missing fields"),
        pytest.param(
            json.dumps(
                {
                    "requestId": "0123456789abcdef0123456789abcdef",
                    "verificationId": "v-1",
                    "purpose": "dibao.application",
                    "region": "110101",
                    "persons": [{"seq": 0, "idNumber": HUSBAND[:17] + "x"}],
                }
            ).encode(),
            "1002",
            id="lowercase check character",
        ),
    ],
)
async def test_bad_requests_are_refused_with_a_contract_error(
    agency: RecordedAgency, path: str, body: bytes, code: str
) -> None:
    document = openapi_document(CONTRACT)

    async with (
        aiohttp.ClientSession() as session,
        session.post(agency.running.url + path, data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        assert response.status == 400
        answer = await response.json()

    openapi_validator(document, response_schema(document, path, "post", 400, "application/json")).validate(answer)
    assert answer["code"] == code
    assert HUSBAND[:17] not in answer["message"]
