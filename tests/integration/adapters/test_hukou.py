"""HukouAdapter against the simulated public-security agency, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator

from adapters.base import AdapterSettings, Fact, QueryMember, SourceQuery
from adapters.hukou import HukouAdapter
from adapters.testkit.faults import FaultInjector
from adapters.testkit.hukou import create_app
from adapters.testkit.population import Household, Person, Population, Vehicle, generate
from adapters.testkit.server import RunningAgency, start_agency
from gateway.errors import SourceProtocolError, SourceUnavailable
from gateway.ids import id_number_check_char
from tests.integration.adapters.rest_agency import (
    RecordedAgency,
    openapi_document,
    openapi_validator,
    response_schema,
    start_recorded_agency,
)

CONTRACT = Path(__file__).parents[3] / "contracts" / "agencies" / "hukou" / "openapi.yaml"
REGISTER = "/api/v1/household-register/query"
VEHICLES = "/api/v1/motor-vehicles/query"
AS_OF = date(2026, 7, 1)


def _id(first17: str) -> str:
    return first17 + id_number_check_char(first17)


HEAD = _id("11010119750101001")
SPOUSE = _id("11010119780302002")
DAUGHTER = _id("11010120100815002")
WIDOWER = _id("51050219400312001")  # died 2026-03-01, entry never cancelled: deceased_on_register
MOVED_AWAY = _id("51050219700101003")  # entry cancelled (on_register False)
UNKNOWN = _id("45090219900101003")  # not in the population at all
ALL_IDS = (HEAD, SPOUSE, DAUGHTER, WIDOWER, MOVED_AWAY, UNKNOWN)
OTHER_PERSON = SPOUSE

POPULATION = Population.of(
    seed=7,
    as_of=AS_OF,
    households=(
        Household(
            household_id="h1",
            region="110101",
            members=(
                Person(
                    HEAD,
                    "张建国",
                    "M",
                    date(1975, 1, 1),
                    "self",
                    "110101000123",
                    "110101",
                    vehicles=(Vehicle("京A12345", 120000), Vehicle("京B54321", 35000)),
                ),
                Person(SPOUSE, "李秀英", "F", date(1978, 3, 2), "spouse", "110101000123", "110101"),
                Person(DAUGHTER, "张小红", "F", date(2010, 8, 15), "child", "110101000123", "110101"),
            ),
        ),
        Household(
            household_id="h2",
            region="510502",
            members=(
                Person(
                    WIDOWER,
                    "王德福",
                    "M",
                    date(1940, 3, 12),
                    "self",
                    "510502000456",
                    "510502",
                    death_date=date(2026, 3, 1),
                ),
                Person(
                    MOVED_AWAY, "王志强", "M", date(1970, 1, 1), "child", "510502000456", "510502", on_register=False
                ),
            ),
        ),
    ),
)


def _query(*id_numbers: str) -> SourceQuery:
    members = tuple(QueryMember(index, number, "某某", "self") for index, number in enumerate(id_numbers))
    return SourceQuery("v-2026-000123", "dibao.application", "110101", members, AS_OF)


@pytest.fixture
async def agency() -> AsyncIterator[RecordedAgency]:
    faults = FaultInjector()
    recorded = await start_recorded_agency("hukou", create_app(POPULATION, faults), faults)
    yield recorded
    await recorded.running.stop()


@pytest.fixture
async def adapter(agency: RecordedAgency) -> AsyncIterator[HukouAdapter]:
    adapter = HukouAdapter(agency.running.url)
    yield adapter
    await adapter.aclose()


def _person_facts(
    member: int, record: str, hukou_id: str, region: str, relation: str, sex: str, born: str
) -> list[Fact]:
    return [
        Fact("person.registered", member, True, record_id=record),
        Fact("person.hukou_id", member, hukou_id, record_id=record),
        Fact("person.hukou_region", member, region, record_id=record),
        Fact("person.register_relation", member, relation, record_id=record),
        Fact("person.sex", member, sex, record_id=record),
        Fact("person.birth_date", member, born, record_id=record),
    ]


def _vehicle_facts(member: int, count: int, value: int) -> list[Fact]:
    return [Fact("vehicle.count", member, count), Fact("vehicle.value", member, value)]


async def test_every_fact_is_mapped(adapter: HukouAdapter) -> None:
    result = await adapter.fetch(_query(*ALL_IDS))

    assert result.adapter == "hukou"
    assert list(result.facts) == [
        *_person_facts(0, "RK0000000001", "110101000123", "110101", "self", "M", "1975-01-01"),
        *_vehicle_facts(0, 2, 155000),
        *_person_facts(1, "RK0000000002", "110101000123", "110101", "spouse", "F", "1978-03-02"),
        *_vehicle_facts(1, 0, 0),
        *_person_facts(2, "RK0000000003", "110101000123", "110101", "child", "F", "2010-08-15"),
        *_vehicle_facts(2, 0, 0),
        *_person_facts(3, "RK0000000004", "510502000456", "510502", "self", "M", "1940-03-12"),
        *_vehicle_facts(3, 0, 0),
        Fact("person.registered", 4, False, record_id="RK0000000005"),
        Fact("person.sex", 4, "M", record_id="RK0000000005"),
        Fact("person.birth_date", 4, "1970-01-01", record_id="RK0000000005"),
        *_vehicle_facts(4, 0, 0),
        Fact("person.registered", 5, False),
        *_vehicle_facts(5, 0, 0),
    ]
    assert result.provenance.agency == "hukou"
    assert result.provenance.as_of == AS_OF
    assert result.provenance.record_ids == (
        "RK0000000001",
        "CL0000000001",
        "CL0000000002",
        "RK0000000002",
        "RK0000000003",
        "RK0000000004",
        "RK0000000005",
    )


async def test_a_registered_death_is_not_known_to_the_register(adapter: HukouAdapter) -> None:
    result = await adapter.fetch(_query(WIDOWER))

    facts = {fact.code: fact.value for fact in result.facts}
    assert facts["person.registered"] is True
    assert facts["person.hukou_id"] == "510502000456"
    assert "person.deceased" not in facts
    assert "person.death_date" not in facts


async def test_an_unknown_person_is_not_registered_and_owns_no_vehicle(adapter: HukouAdapter) -> None:
    result = await adapter.fetch(_query(UNKNOWN))

    assert result.facts == (
        Fact("person.registered", 0, False),
        Fact("vehicle.count", 0, 0),
        Fact("vehicle.value", 0, 0),
    )
    assert result.provenance.record_ids == ()


async def test_two_vehicles_are_counted_and_summed(adapter: HukouAdapter) -> None:
    result = await adapter.fetch(_query(HEAD))

    facts = {fact.code: fact.value for fact in result.facts}
    assert (facts["vehicle.count"], facts["vehicle.value"]) == (2, 120000 + 35000)
    assert {"CL0000000001", "CL0000000002"} <= set(result.provenance.record_ids)


async def test_members_are_the_query_indexes(adapter: HukouAdapter) -> None:
    members = (QueryMember(4, SPOUSE, "李秀英", "spouse"), QueryMember(9, HEAD, "张建国", "self"))
    result = await adapter.fetch(SourceQuery("v-1", "dibao.application", "110101", members, AS_OF))

    relations = {fact.member: fact.value for fact in result.facts if fact.code == "person.register_relation"}
    assert relations == {4: "spouse", 9: "self"}


async def test_requests_carry_identity_numbers_only_in_the_body(adapter: HukouAdapter, agency: RecordedAgency) -> None:
    await adapter.fetch(_query(*ALL_IDS))

    assert {exchange.url.split("?")[0].removeprefix(agency.running.url) for exchange in agency.log} == {
        REGISTER,
        VEHICLES,
    }
    for exchange in agency.log:
        assert not any(number in exchange.url for number in ALL_IDS)
        body = json.loads(exchange.request_body)
        # Only what the agency needs: no names, no relations as the requester stated them.
        assert set(body) == {"requestId", "verificationId", "purpose", "region", "persons"}
        assert [person["idNumber"] for person in body["persons"]] == list(ALL_IDS)
        assert all(set(person) == {"seq", "idNumber"} for person in body["persons"])
        assert "张建国" not in exchange.request_body.decode()
    assert agency.log[0].request_body != agency.log[1].request_body  # one requestId per call


async def test_request_counters_increase(adapter: HukouAdapter, agency: RecordedAgency) -> None:
    await adapter.fetch(_query(HEAD))
    await adapter.fetch(_query(SPOUSE))

    assert agency.faults.requests[REGISTER] == 2
    assert agency.faults.requests[VEHICLES] == 2
    assert agency.faults.total_requests == 4


async def test_a_malformed_answer_is_a_protocol_error(adapter: HukouAdapter, agency: RecordedAgency) -> None:
    agency.faults.settings.malformed_rate = 1

    with pytest.raises(SourceProtocolError) as raised:
        await adapter.fetch(_query(*ALL_IDS))
    assert not any(number in str(raised.value) for number in ALL_IDS)


async def test_a_failing_agency_is_unavailable(adapter: HukouAdapter, agency: RecordedAgency) -> None:
    agency.faults.settings.error_rate = 1

    with pytest.raises(SourceUnavailable):
        await adapter.fetch(_query(HEAD))
    assert agency.faults.total_requests >= 1


async def test_generated_scenario_households_match_the_population() -> None:
    population = generate(households=5)
    faults = FaultInjector()
    running = await start_agency("hukou", create_app(population, faults), faults)
    adapter = HukouAdapter(running.url)
    try:
        for scenario in population.scenarios:
            people = population.household(scenario.household_id).members
            members = tuple(QueryMember(n, p.id_number, p.name, p.relation) for n, p in enumerate(people))
            query = SourceQuery("v-1", scenario.purpose, scenario.region, members, population.as_of)
            result = await adapter.fetch(query)
            for n, person in enumerate(people):
                facts = {fact.code: fact.value for fact in result.facts if fact.member == n}
                assert facts["person.registered"] is person.on_register, scenario.name
                assert facts.get("person.hukou_id") == (person.hukou_id if person.on_register else None)
                assert facts["person.sex"] == person.sex
                assert facts["person.birth_date"] == person.birth_date.isoformat()
                assert facts["vehicle.count"] == len(person.vehicles)
                assert facts["vehicle.value"] == sum(vehicle.value for vehicle in person.vehicles)
    finally:
        await adapter.aclose()
        await running.stop()
    # The scenario the register must not see through: a death registered only with civil affairs.
    deceased = population.household(population.scenario("deceased_on_register").household_id).members
    assert any(person.deceased and person.on_register for person in deceased)


# -- the OpenAPI contract ---------------------------------------------------------------------------------


def _examples(document: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    """(schema, example) of every media type in the document that shows an example."""
    media: list[dict[str, Any]] = [
        response["content"]["application/json"]
        for response in document["components"]["responses"].values()
        if "application/json" in response["content"]
    ]
    for item in document["paths"].values():
        for operation in item.values():
            if "requestBody" in operation:
                media.append(operation["requestBody"]["content"]["application/json"])
            media += [
                response["content"]["application/json"]
                for response in operation["responses"].values()
                if "content" in response and "application/json" in response["content"]
            ]
    return [(entry["schema"], entry["example"]) for entry in media if "example" in entry]


def test_the_contract_is_openapi_3_1_and_its_examples_are_valid() -> None:
    document = openapi_document(CONTRACT)

    assert document["openapi"].startswith("3.1.")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    examples = _examples(document)
    assert len(examples) >= 4
    for schema, example in examples:
        openapi_validator(document, schema).validate(example)


async def test_real_exchanges_follow_the_contract(adapter: HukouAdapter, agency: RecordedAgency) -> None:
    document = openapi_document(CONTRACT)
    await adapter.fetch(_query(*ALL_IDS))
    async with aiohttp.ClientSession() as session:
        async with session.get(agency.running.url + "/health") as response:
            assert response.status == 200
        for body in (b"{", json.dumps({"requestId": "x"}).encode()):
            async with session.post(
                agency.running.url + REGISTER, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                assert response.status == 400

    assert [(exchange.method, exchange.status) for exchange in agency.log].count(("POST", 200)) == 2
    for exchange in agency.log:
        path = exchange.url.removeprefix(agency.running.url)
        method = exchange.method.lower()
        operation = document["paths"][path][method]
        if exchange.request_body:
            request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
            if exchange.status == 200:
                openapi_validator(document, request_schema).validate(json.loads(exchange.request_body))
        schema = response_schema(document, path, method, exchange.status, exchange.content_type)
        openapi_validator(document, schema).validate(json.loads(exchange.response_body))


def _valid_request(*id_numbers: str) -> dict[str, Any]:
    return {
        "requestId": "0123456789abcdef0123456789abcdef",
        "verificationId": "v-1",
        "purpose": "dibao.application",
        "region": "110101",
        "persons": [{"seq": n, "idNumber": number} for n, number in enumerate(id_numbers)],
    }


def _broken_check_character() -> dict[str, Any]:
    body = _valid_request(HEAD)
    body["persons"][0]["idNumber"] = HEAD[:17] + ("1" if HEAD[17] != "1" else "2")
    return body


BAD_REQUESTS: dict[str, tuple[bytes, str, str]] = {
    "not JSON": (b'{"requestId": ', "application/json", "1001"),
    "not application/json": (json.dumps(_valid_request(HEAD)).encode(), "text/plain", "1001"),
    "wrong check character": (json.dumps(_broken_check_character()).encode(), "application/json", "1002"),
    "duplicate seq": (
        json.dumps(_valid_request(HEAD, SPOUSE) | {"persons": [{"seq": 0, "idNumber": HEAD}] * 2}).encode(),
        "application/json",
        "1002",
    ),
    "no persons": (json.dumps(_valid_request(HEAD) | {"persons": []}).encode(), "application/json", "1002"),
    "too many persons": (json.dumps(_valid_request(*[HEAD] * 101)).encode(), "application/json", "1002"),
    "unknown field": (json.dumps(_valid_request(HEAD) | {"name": "张建国"}).encode(), "application/json", "1002"),
    "missing purpose": (
        json.dumps({k: v for k, v in _valid_request(HEAD).items() if k != "purpose"}).encode(),
        "application/json",
        "1002",
    ),
    "seq as string": (
        json.dumps(_valid_request(HEAD) | {"persons": [{"seq": "0", "idNumber": HEAD}]}).encode(),
        "application/json",
        "1002",
    ),
    "identity number as an unknown key": (
        json.dumps(_valid_request(HEAD) | {HEAD: 1}).encode(),
        "application/json",
        "1002",
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
async def test_bad_requests_are_refused_with_a_contract_error(agency: RecordedAgency, case: str) -> None:
    body, content_type, code = BAD_REQUESTS[case]
    document = openapi_document(CONTRACT)

    async with (
        aiohttp.ClientSession() as session,
        session.post(agency.running.url + REGISTER, data=body, headers={"Content-Type": content_type}) as response,
    ):
        assert response.status == 400
        assert response.content_type == "application/json"
        answer = await response.json()

    openapi_validator(document, response_schema(document, REGISTER, "post", 400, "application/json")).validate(answer)
    assert answer["code"] == code
    assert not any(number[:17] in answer["message"] for number in ALL_IDS)


# -- an agency that answers outside its contract ----------------------------------------------------------

Mutation = Callable[[dict[str, Any]], web.Response]


def _as_json(body: dict[str, Any], status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type=content_type)


def _with_results(body: dict[str, Any], results: list[dict[str, Any]]) -> web.Response:
    return _as_json(body | {"data": body["data"] | {"results": results}})


# Each turns the correct answer (one result for the one person asked about) into one outside the contract.
HOSTILE: dict[str, Mutation] = {
    "another request's id": lambda body: _as_json(body | {"requestId": "f" * 32}),
    "the person left out": lambda body: _with_results(body, []),
    "the person answered twice": lambda body: _with_results(body, body["data"]["results"] * 2),
    "a person not asked about": lambda body: _with_results(body, [body["data"]["results"][0] | {"seq": 1}]),
    "an unknown field": lambda body: _as_json(body | {"extra": 1}),
    "an identity number as a key": lambda body: _as_json(body | {HEAD: "张建国"}),
    "found without a person": lambda body: _with_results(
        body, [body["data"]["results"][0] | {"seq": 0, "found": True}]
    ),
    "no identity number": lambda body: _with_results(
        body, [{k: v for k, v in body["data"]["results"][0].items() if k != "idNumber"}]
    ),
    "another person's record": lambda body: _with_results(
        body, [body["data"]["results"][0] | {"idNumber": OTHER_PERSON}]
    ),
    "a failure code": lambda body: _as_json(body | {"code": "9999"}),
    "a string for a number": lambda body: _with_results(body, [body["data"]["results"][0] | {"seq": "0"}]),
    "a timestamp for a date": lambda body: _as_json(body | {"data": body["data"] | {"asOf": "2026-07-01T00:00:00"}}),
    "HTML": lambda body: _as_json(body, content_type="text/html"),
    "a refusal": lambda body: _as_json({"code": "1002", "message": f"bad {HEAD}"}, status=400),
    "a 404": lambda body: web.Response(status=404, text="not found"),
}


async def _hostile_agency(mutate: Mutation) -> RunningAgency:
    async def answer(request: web.Request) -> web.Response:
        query = await request.json()
        results = [
            {"seq": person["seq"], "idNumber": person["idNumber"], "found": False}
            if request.path == REGISTER
            else {"seq": person["seq"], "idNumber": person["idNumber"], "vehicles": []}
            for person in query["persons"]
        ]
        body = {
            "code": "0000",
            "message": "成功",
            "requestId": query["requestId"],
            "data": {"asOf": "2026-07-01", "results": results},
        }
        return mutate(body)

    faults = FaultInjector()
    app = web.Application(middlewares=[faults.middleware])
    app.router.add_post(REGISTER, answer)
    app.router.add_post(VEHICLES, answer)
    return await start_agency("hostile-hukou", app, faults)


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
async def test_answers_outside_the_contract_are_protocol_errors(case: str) -> None:
    running = await _hostile_agency(HOSTILE[case])
    adapter = HukouAdapter(running.url)
    try:
        with pytest.raises(SourceProtocolError) as raised:
            await adapter.fetch(_query(HEAD))
    finally:
        await adapter.aclose()
        await running.stop()
    assert HEAD not in str(raised.value)
    assert "张建国" not in str(raised.value)
    assert HEAD not in str(raised.value.__cause__)


async def test_the_hostile_agency_is_otherwise_acceptable() -> None:
    running = await _hostile_agency(_as_json)
    adapter = HukouAdapter(running.url)
    try:
        result = await adapter.fetch(_query(HEAD))
    finally:
        await adapter.aclose()
        await running.stop()
    assert result.facts[0] == Fact("person.registered", 0, False)


async def test_an_answer_larger_than_the_limit_is_a_protocol_error(agency: RecordedAgency) -> None:
    adapter = HukouAdapter(agency.running.url, AdapterSettings(max_response_bytes=200))
    try:
        with pytest.raises(SourceProtocolError, match="larger than 200 bytes"):
            await adapter.fetch(_query(*ALL_IDS))
    finally:
        await adapter.aclose()
