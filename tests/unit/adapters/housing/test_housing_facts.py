"""Housing answers to facts, and the wire models against the OpenAPI contract (no I/O but the file)."""

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
from adapters.housing._facts import fund_facts, property_facts
from adapters.housing._wire import FundAnswer, FundResult, RealEstateAnswer, RealEstateResult

CONTRACT = Path(__file__).parents[4] / "contracts" / "agencies" / "housing" / "openapi.yaml"
HOME: dict[str, Any] = {
    "recordId": "BDC1",
    "certificateNo": "桂（2023）玉林市不动产权第9038304号",
    "usage": "RESIDENTIAL",
    "buildingArea": 88.5,
    "regionCode": "450902",
    "ownership": "JOINT",
}
SHOP = HOME | {"recordId": "BDC2", "certificateNo": "桂（2020）玉林市不动产权第0000001号", "usage": "COMMERCIAL"}


def test_each_certificate_is_one_fact_of_its_usage() -> None:
    result = RealEstateResult.model_validate_json(
        json.dumps({"seq": 4, "idNumber": "11010519491231002X", "properties": [HOME, SHOP | {"buildingArea": 30}]})
    )

    assert property_facts(4, result) == [
        Fact(
            "property.residential",
            4,
            {"certificate": HOME["certificateNo"], "area_m2": 88.5, "region": "450902"},
            record_id="BDC1",
        ),
        Fact(
            "property.commercial",
            4,
            {"certificate": SHOP["certificateNo"], "area_m2": 30.0, "region": "450902"},
            record_id="BDC2",
        ),
    ]


def test_no_holdings_no_facts() -> None:
    assert (
        property_facts(
            0, RealEstateResult.model_validate_json('{"seq": 0, "idNumber": "11010519491231002X", "properties": []}')
        )
        == []
    )


def test_a_fund_account_gives_its_balance_and_no_account_gives_nothing() -> None:
    account = FundResult.model_validate_json(
        '{"seq": 1, "idNumber": "11010519491231002X", "found": true, "account": {"recordId": "G1", "balance": 10.5}}'
    )
    assert fund_facts(1, account) == [Fact("provident_fund.balance", 1, 10.5, record_id="G1")]
    assert (
        fund_facts(1, FundResult.model_validate_json('{"seq": 1, "idNumber": "11010519491231002X", "found": false}'))
        == []
    )


# -- the wire models refuse exactly what the OpenAPI document refuses (for these cases) --------------------


def _validator(schema_name: str) -> Draft202012Validator:
    document = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _answer(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "code": "0000",
        "message": "成功",
        "requestId": "0123456789abcdef0123456789abcdef",
        "data": {"asOf": "2026-07-01", "results": results},
    }


ESTATE_ANSWER = _answer(
    [
        {"seq": 0, "idNumber": "11010519491231002X", "properties": [HOME, SHOP]},
        {"seq": 1, "idNumber": "11010519491231002X", "properties": []},
    ]
)
FUND_ANSWER = _answer(
    [
        {"seq": 0, "idNumber": "11010519491231002X", "found": True, "account": {"recordId": "GJJ1", "balance": 23456}},
        {"seq": 1, "idNumber": "11010519491231002X", "found": False},
    ]
)


def _home(body: dict[str, Any]) -> dict[str, Any]:
    home: dict[str, Any] = body["data"]["results"][0]["properties"][0]
    return home


ESTATE_VIOLATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "unknown usage": lambda body: _home(body).update(usage="OFFICE"),
    "zero area": lambda body: _home(body).update(buildingArea=0),
    "area as text": lambda body: _home(body).update(buildingArea="88.5"),
    "five-digit region": lambda body: _home(body).update(regionCode="45090"),
    "unknown ownership": lambda body: _home(body).update(ownership="JOINTLY"),
    "no certificate": lambda body: _home(body).pop("certificateNo"),
    "record id with spaces": lambda body: _home(body).update(recordId="BDC 1"),
    "owner's name added": lambda body: _home(body).update(ownerName="黄建军"),
    "no properties list": lambda body: body["data"]["results"][1].pop("properties"),
}
FUND_VIOLATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "found without account": lambda body: body["data"]["results"][0].pop("account"),
    "not found with account": lambda body: body["data"]["results"][0].update(found=False),
    "negative balance": lambda body: body["data"]["results"][0]["account"].update(balance=-1),
    "balance as text": lambda body: body["data"]["results"][0]["account"].update(balance="23456"),
    "found as text": lambda body: body["data"]["results"][1].update(found="false"),
}


@pytest.mark.parametrize(
    ("schema", "model", "answer"),
    [("RealEstateAnswer", RealEstateAnswer, ESTATE_ANSWER), ("FundAnswer", FundAnswer, FUND_ANSWER)],
)
def test_a_valid_answer_is_accepted_by_contract_and_model(schema: str, model: Any, answer: dict[str, Any]) -> None:
    _validator(schema).validate(answer)
    model.model_validate_json(json.dumps(answer, ensure_ascii=False))


@pytest.mark.parametrize(
    ("schema", "model", "answer", "violation"),
    [("RealEstateAnswer", RealEstateAnswer, ESTATE_ANSWER, name) for name in ESTATE_VIOLATIONS]
    + [("FundAnswer", FundAnswer, FUND_ANSWER, name) for name in FUND_VIOLATIONS],
    ids=[*ESTATE_VIOLATIONS, *FUND_VIOLATIONS],
)
def test_an_answer_outside_the_contract_is_refused_by_both(
    schema: str, model: Any, answer: dict[str, Any], violation: str
) -> None:
    body = copy.deepcopy(answer)
    (ESTATE_VIOLATIONS | FUND_VIOLATIONS)[violation](body)

    assert not _validator(schema).is_valid(body)
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(body, ensure_ascii=False))
