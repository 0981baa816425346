"""The hub-edge bodies: a query carries only what the agency needs; both sides parse strictly."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapters.base import Fact, Provenance, QueryMember, SourceQuery, SourceResult
from gateway.edge.wire import parse_query_body, parse_result_body, query_body, result_body
from gateway.errors import InvalidIdNumber, InvalidInput, SourceProtocolError

ID_NUMBER = "110101199003070011"
QUERY = SourceQuery(
    verification_id="4446c3e9-0ede-4f78-aeab-5fc7cf702590",
    purpose="dibao.application",
    region="110101",
    members=(QueryMember(index=0, id_number=ID_NUMBER, name="王建国", relation="self"),),
    as_of=date(2026, 7, 1),
)


def test_a_query_carries_no_names_or_relations_and_round_trips() -> None:
    body = query_body("tax", QUERY)
    assert "王建国" not in str(body) and "self" not in str(body)
    parsed = parse_query_body(body, "tax")
    assert parsed.verification_id == QUERY.verification_id
    assert parsed.as_of == QUERY.as_of
    assert [m.id_number for m in parsed.members] == [ID_NUMBER]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"adapter": "banking"}, InvalidInput),
        ({"purpose": "dibao application"}, InvalidInput),
        ({"region": "１１０１０１"}, InvalidInput),  # full-width digits are not ASCII digits
        ({"as_of": "2026-02-30"}, InvalidInput),
        ({"members": []}, InvalidInput),
        ({"members": [{"index": 1, "id_number": ID_NUMBER}]}, InvalidInput),
        ({"members": [{"index": 0, "id_number": ID_NUMBER, "name": "x"}]}, InvalidInput),
        ({"members": [{"index": 0, "id_number": "110101199003070012"}]}, InvalidIdNumber),
    ],
)
def test_a_malformed_query_is_refused(change: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_query_body({**query_body("tax", QUERY), **change}, "tax")


RESULT = SourceResult(
    adapter="tax",
    facts=(
        Fact("income.wage", 0, 3000.0, period="2026-06", record_id="T-1;T-2"),
        Fact("person.flags", 0, {"a": 1, "b": None}),
    ),
    provenance=Provenance(agency="tax", as_of=date(2026, 7, 1), record_ids=("T-1",)),
)


def test_an_answer_round_trips() -> None:
    result, attestation = parse_result_body(result_body(RESULT, "a.b.c"), "tax", members=1)
    assert result == RESULT
    assert attestation == "a.b.c"


@pytest.mark.parametrize(
    "change",
    [
        {"adapter": "banking"},
        {"attestation": None},
        {"facts": [{"code": "income.wage", "member": 1, "value": 1, "period": None, "record_id": None}]},
        {"facts": [{"code": "income.wage", "member": True, "value": 1, "period": None, "record_id": None}]},
        {"facts": [{"code": "Income", "member": 0, "value": 1, "period": None, "record_id": None}]},
        {"facts": [{"code": "income.wage", "member": 0, "value": [[1]], "period": None, "record_id": None}]},
        {"facts": [{"code": "income.wage", "member": 0, "value": 1, "period": "2026-6", "record_id": None}]},
        {"facts": [{"code": "income.wage", "member": 0, "value": 1, "period": None, "record_id": "a b"}]},
        {"facts": [{"code": "income.wage", "member": 0, "value": 1}]},
        {"provenance": {"agency": "tax", "as_of": "2026-07-01"}},
    ],
)
def test_an_answer_outside_the_contract_is_a_protocol_error(change: dict[str, Any]) -> None:
    with pytest.raises(SourceProtocolError):
        parse_result_body({**result_body(RESULT, "a.b.c"), **change}, "tax", members=1)
