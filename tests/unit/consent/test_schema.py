"""Request bodies of /v1/consents: validated with locations and messages only, never the values sent."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from gateway.consent import ConsentBatch, ConsentRegistration, RevokeRequest, SearchRequest, parse_body
from gateway.errors import InvalidInput

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import ConsentKit


def test_a_grantee_is_a_member_id_or_a_region(kit: ConsentKit) -> None:
    assert parse_body(ConsentRegistration, kit.body(grantee=kit.mis)).grantee == kit.mis
    assert parse_body(ConsentRegistration, kit.body(grantee="510502")).grantee == "510502"
    for bad in ("CN/GOV/11110101MB12345670/dibao-mis", "0101", "anyone"):
        with pytest.raises(InvalidInput) as caught:
            parse_body(ConsentRegistration, kit.body(grantee=bad))
        assert caught.value.extensions["errors"][0]["loc"] == ["grantee"]


def test_errors_carry_locations_and_messages_only(kit: ConsentKit) -> None:
    number = kit.id_number(40)
    body = kit.body(
        id_number=number,
        purposes=["dibao.application", "dibao.application"],
        categories=["tax", "secrets"],
        signed_at="2026-11-01T10:00:00",  # no offset
        evidence={"sha256": number, "ref": ""},
        surplus=number,
    )
    with pytest.raises(InvalidInput) as caught:
        parse_body(ConsentRegistration, body)
    locations = {tuple(error["loc"]) for error in caught.value.extensions["errors"]}
    assert {("purposes",), ("categories", 1), ("signed_at",), ("evidence", "sha256"), ("surplus",)} <= locations
    assert number not in json.dumps(caught.value.extensions) and number not in caught.value.detail


def test_other_bodies(kit: ConsentKit) -> None:
    batch = parse_body(ConsentBatch, {"consents": [kit.body(), kit.body(id_number=kit.id_number(41))]})
    assert len(batch.consents) == 2
    with pytest.raises(InvalidInput):
        parse_body(ConsentBatch, {"consents": []})
    assert parse_body(RevokeRequest, {"reason": "withdrawn at the office"}).reason == "withdrawn at the office"
    with pytest.raises(InvalidInput):
        parse_body(RevokeRequest, {"reason": ""})
    number = kit.id_number(40)
    search = parse_body(SearchRequest, {"id_number": number})
    assert search.id_number == number and number not in repr(search)
