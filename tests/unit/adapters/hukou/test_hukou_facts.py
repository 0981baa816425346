"""Public-security answers to facts, and the wire models against the OpenAPI contract (no I/O but the file)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError

from adapters.base import Fact
from adapters.hukou._facts import register_facts, vehicle_facts
from adapters.hukou._wire import RegisterAnswer, RegisterResult, VehicleAnswer, VehicleResult

CONTRACT = Path(__file__).parents[4] / "contracts" / "agencies" / "hukou" / "openapi.yaml"


def _entry(**changes: Any) -> RegisterResult:
    person = {
        "recordId": "RK1",
        "registerStatus": "NORMAL",
        "sexCode": "2",
        "birthDate": "1990-05-06",
        "hukouId": "H1",
        "hukouRegion": "450902",
        "relationCode": "10",
    } | changes
    return RegisterResult.model_validate_json(
        json.dumps({"seq": 3, "idNumber": "11010519491231002X", "found": True, "person": person})
    )


@pytest.mark.parametrize(
    ("code", "relation"),
    [
        ("01", "self"),
        ("02", "self"),
        ("10", "spouse"),
        ("12", "spouse"),
        ("20", "child"),
        ("28", "child"),  # 女婿
        ("30", "child"),
        ("38", "child"),  # 儿媳
        ("41", "grandchild"),
        ("51", "parent"),
        ("52", "parent"),
        ("62", "grandparent"),
        ("73", "sibling"),
        ("81", "other"),
        ("99", "other"),
    ],
)
def test_relation_codes_follow_gb_t_4761_groups(code: str, relation: str) -> None:
    facts = register_facts(3, _entry(relationCode=code))
    assert Fact("person.register_relation", 3, relation, record_id="RK1") in facts


def test_a_normal_entry_gives_every_register_fact() -> None:
    assert register_facts(3, _entry()) == [
        Fact("person.registered", 3, True, record_id="RK1"),
        Fact("person.hukou_id", 3, "H1", record_id="RK1"),
        Fact("person.hukou_region", 3, "450902", record_id="RK1"),
        Fact("person.register_relation", 3, "spouse", record_id="RK1"),
        Fact("person.sex", 3, "F", record_id="RK1"),
        Fact("person.birth_date", 3, "1990-05-06", record_id="RK1"),
    ]


def test_a_cancelled_entry_is_not_registered_and_names_no_household() -> None:
    cancelled = _entry(registerStatus="CANCELLED", sexCode="1", hukouId=None, hukouRegion=None, relationCode=None)
    assert register_facts(0, cancelled) == [
        Fact("person.registered", 0, False, record_id="RK1"),
        Fact("person.sex", 0, "M", record_id="RK1"),
        Fact("person.birth_date", 0, "1990-05-06", record_id="RK1"),
    ]


@pytest.mark.parametrize("code", ["0", "9"])
def test_an_unknown_or_unstated_sex_gives_no_sex_fact(code: str) -> None:
    assert all(fact.code != "person.sex" for fact in register_facts(0, _entry(sexCode=code)))


def test_a_person_not_found_is_not_registered() -> None:
    result = RegisterResult.model_validate_json('{"seq": 2, "idNumber": "11010519491231002X", "found": false}')
    assert register_facts(2, result) == [Fact("person.registered", 2, False)]


def test_vehicles_are_counted_and_summed() -> None:
    vehicles = [
        {"recordId": "CL1", "plateNumber": "桂K12345", "plateType": "02", "assessedValue": 80000},
        {"recordId": "CL2", "plateNumber": "桂K54321", "plateType": "01", "assessedValue": 12500.5},
    ]
    result = VehicleResult.model_validate_json(
        json.dumps({"seq": 1, "idNumber": "11010519491231002X", "vehicles": vehicles})
    )
    assert vehicle_facts(1, result) == [Fact("vehicle.count", 1, 2), Fact("vehicle.value", 1, 92500.5)]
    none = VehicleResult.model_validate_json('{"seq": 1, "idNumber": "11010519491231002X", "vehicles": []}')
    assert vehicle_facts(1, none) == [Fact("vehicle.count", 1, 0), Fact("vehicle.value", 1, 0)]


# -- the wire models refuse exactly what the OpenAPI document refuses (for these cases) --------------------


def _validator(schema_name: str) -> Draft202012Validator:
    document = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=FormatChecker())


REGISTER_ANSWER: dict[str, Any] = {
    "code": "0000",
    "message": "成功",
    "requestId": "0123456789abcdef0123456789abcdef",
    "data": {
        "asOf": "2026-07-01",
        "results": [
            {
                "seq": 0,
                "idNumber": "11010519491231002X",
                "found": True,
                "person": {
                    "recordId": "RK0000000001",
                    "registerStatus": "NORMAL",
                    "sexCode": "1",
                    "birthDate": "1975-01-01",
                    "hukouId": "110101000123",
                    "hukouRegion": "110101",
                    "relationCode": "02",
                },
            },
            {
                "seq": 1,
                "idNumber": "11010519491231002X",
                "found": True,
                "person": {"recordId": "RK2", "registerStatus": "CANCELLED", "sexCode": "2", "birthDate": "1980-02-29"},
            },
            {"seq": 2, "idNumber": "11010519491231002X", "found": False},
        ],
    },
}
VEHICLE_ANSWER: dict[str, Any] = {
    "code": "0000",
    "message": "成功",
    "requestId": "0123456789abcdef0123456789abcdef",
    "data": {
        "asOf": "2026-07-01",
        "results": [
            {
                "seq": 0,
                "idNumber": "11010519491231002X",
                "vehicles": [{"recordId": "CL1", "plateNumber": "京A1", "plateType": "02", "assessedValue": 1}],
            },
            {"seq": 1, "idNumber": "11010519491231002X", "vehicles": []},
        ],
    },
}


def _normal(body: dict[str, Any]) -> dict[str, Any]:
    person: dict[str, Any] = body["data"]["results"][0]["person"]
    return person


REGISTER_VIOLATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "NORMAL without hukouId": lambda body: _normal(body).pop("hukouId"),
    "CANCELLED with a region": lambda body: body["data"]["results"][1]["person"].update(hukouRegion="110101"),
    "not found with a person": lambda body: body["data"]["results"][0].update(found=False),
    "found without a person": lambda body: body["data"]["results"][2].update(found=True),
    "unknown sex code": lambda body: _normal(body).update(sexCode="3"),
    "one-digit relation code": lambda body: _normal(body).update(relationCode="1"),
    "basic-format date": lambda body: _normal(body).update(birthDate="19750101"),
    "not a calendar date": lambda body: _normal(body).update(birthDate="1975-02-30"),
    "lowercase status": lambda body: _normal(body).update(registerStatus="normal"),
    "extra field in a person": lambda body: _normal(body).update(name="张三"),
    "negative seq": lambda body: body["data"]["results"][2].update(seq=-1),
    "boolean seq": lambda body: body["data"]["results"][2].update(seq=True),
    "failure code": lambda body: body.update(code="0001"),
    "no asOf": lambda body: body["data"].pop("asOf"),
    "uppercase requestId": lambda body: body.update(requestId="0123456789ABCDEF0123456789ABCDEF"),
    "five-digit region": lambda body: _normal(body).update(hukouRegion="11010"),
}
VEHICLE_VIOLATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "negative value": lambda body: body["data"]["results"][0]["vehicles"][0].update(assessedValue=-1),
    "value as text": lambda body: body["data"]["results"][0]["vehicles"][0].update(assessedValue="1"),
    "one-digit plate type": lambda body: body["data"]["results"][0]["vehicles"][0].update(plateType="2"),
    "empty plate": lambda body: body["data"]["results"][0]["vehicles"][0].update(plateNumber=""),
    "no vehicles list": lambda body: body["data"]["results"][1].pop("vehicles"),
}


@pytest.mark.parametrize(
    ("schema", "model", "answer"),
    [("RegisterAnswer", RegisterAnswer, REGISTER_ANSWER), ("VehicleAnswer", VehicleAnswer, VEHICLE_ANSWER)],
)
def test_a_valid_answer_is_accepted_by_contract_and_model(schema: str, model: Any, answer: dict[str, Any]) -> None:
    _validator(schema).validate(answer)
    model.model_validate_json(json.dumps(answer, ensure_ascii=False))


@pytest.mark.parametrize(
    ("schema", "model", "answer", "violation"),
    [("RegisterAnswer", RegisterAnswer, REGISTER_ANSWER, name) for name in REGISTER_VIOLATIONS]
    + [("VehicleAnswer", VehicleAnswer, VEHICLE_ANSWER, name) for name in VEHICLE_VIOLATIONS],
    ids=[*REGISTER_VIOLATIONS, *VEHICLE_VIOLATIONS],
)
def test_an_answer_outside_the_contract_is_refused_by_both(
    schema: str, model: Any, answer: dict[str, Any], violation: str
) -> None:
    body = copy.deepcopy(answer)
    (REGISTER_VIOLATIONS | VEHICLE_VIOLATIONS)[violation](body)

    assert not _validator(schema).is_valid(body)
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(body, ensure_ascii=False))
