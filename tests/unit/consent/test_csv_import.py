"""Parsing a county office's consent CSV: columns, dates, and every error kind, reported by row without echo."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from gateway.consent import parse_consent_csv
from gateway.consent.rules import CHINA_STANDARD_TIME
from gateway.errors import ConsentImportInvalid

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import ConsentKit

HEADER = "id_number,purposes,categories,collection_method,evidence_sha256,evidence_ref,signed_at"
FULL_HEADER = HEADER + ",valid_until,guardian_id_number,guardian_relation,legal_basis"


def csv_bytes(*lines: str, bom: bool = False) -> bytes:
    return ("\ufeff" if bom else "").encode() + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def row(kit: ConsentKit, number: str, *, digest: str = "ab" * 32, signed: str | None = None, extra: str = "") -> str:
    signed = signed or (kit.now - timedelta(days=3)).astimezone(CHINA_STANDARD_TIME).date().isoformat()
    return f"{number},dibao.application,tax;banking,signed_form,{digest},form-17,{signed}{extra}"


def errors_of(kit: ConsentKit, data: bytes) -> list[dict[str, object]]:
    with pytest.raises(ConsentImportInvalid) as caught:
        parse_consent_csv(data, grantee=kit.mis, now=kit.now)
    errors: list[dict[str, object]] = caught.value.extensions["errors"]
    assert caught.value.code == "consent_import_invalid"
    return errors


def test_a_valid_file_with_bom_parses(kit: ConsentKit) -> None:
    adult, child, parent = kit.id_number(40), kit.id_number(9, sequence=201), kit.id_number(38, sequence=302)
    signed = (kit.now - timedelta(days=3)).astimezone(CHINA_STANDARD_TIME).date()
    data = csv_bytes(
        FULL_HEADER.upper().replace(",", " , "),  # header names are trimmed and case-insensitive
        f"{adult},dibao.application; tekun.application,tax;banking,signed_form,{'AB' * 32},form-17,"
        f"{signed.isoformat()},,,,",
        "",
        f'{child},dibao.application,"hukou;tax",guardian,{"cd" * 32},form-18,{signed.isoformat()}T09:30,'
        f"{(signed + timedelta(days=180)).isoformat()},{parent},parent,legal_obligation",
        bom=True,
    )
    parsed = parse_consent_csv(data, grantee=kit.mis, now=kit.now)
    assert [number for number, _ in parsed] == [2, 4]
    first, second = parsed[0][1], parsed[1][1]
    assert first.purposes == ["dibao.application", "tekun.application"]
    assert first.categories == ["tax", "banking"]
    assert first.evidence.sha256 == "ab" * 32
    assert first.signed_at == datetime.combine(signed, datetime.min.time(), CHINA_STANDARD_TIME)
    assert first.valid_until is None and first.guardian is None and first.legal_basis == "consent"
    assert second.signed_at.astimezone(UTC) == datetime.combine(signed, datetime.min.time(), UTC) + timedelta(
        hours=1, minutes=30
    )
    # A bare valid_until date means through that day (China Standard Time).
    assert second.valid_until == datetime.combine(
        signed + timedelta(days=181), datetime.min.time(), CHINA_STANDARD_TIME
    )
    assert second.guardian is not None and second.guardian.relation == "parent"
    assert second.legal_basis == "legal_obligation"
    assert all(registration.grantee == kit.mis for _, registration in parsed)


def test_not_utf8(kit: ConsentKit) -> None:
    data = (HEADER + "\r\n").encode() + row(kit, kit.id_number(40)).replace("form-17", "授权书").encode("gb18030")
    assert errors_of(kit, data) == [{"row": None, "field": None, "msg": "not UTF-8"}]


def test_empty_file_and_header_only(kit: ConsentKit) -> None:
    assert errors_of(kit, b"")[0]["msg"] == "no header row"
    assert errors_of(kit, csv_bytes(HEADER))[0]["msg"] == "no data rows"


def test_header_errors_name_known_columns_and_number_unknown_ones(kit: ConsentKit) -> None:
    number = kit.id_number(40)
    errors = errors_of(kit, csv_bytes(HEADER.replace("signed_at", "signed_on") + ",purposes", row(kit, number)))
    assert {"row": 1, "field": None, "msg": "column 7 is not a known column (see docs/consent.md)"} in errors
    assert {"row": 1, "field": "signed_at", "msg": "required column is missing"} in errors
    assert {"row": 1, "field": "purposes", "msg": "column appears twice"} in errors
    # A file exported without its header: the first data row is read as a header and must not be echoed.
    headless = errors_of(kit, csv_bytes(row(kit, number), row(kit, kit.id_number(41))))
    assert number not in json.dumps(headless, ensure_ascii=False)


def test_wrong_cell_count(kit: ConsentKit) -> None:
    errors = errors_of(kit, csv_bytes(HEADER, row(kit, kit.id_number(40)) + ",surplus"))
    assert errors == [{"row": 2, "field": None, "msg": "8 cells where the header has 7"}]


def test_empty_required_values_and_bad_dates(kit: ConsentKit) -> None:
    bad = csv_bytes(HEADER, row(kit, "", signed="2026-13-01"), row(kit, kit.id_number(40), signed="yesterday"))
    errors = errors_of(kit, bad)
    assert {"row": 2, "field": "id_number", "msg": "required value is empty"} in errors
    assert {"row": 2, "field": "signed_at", "msg": "not an ISO 8601 date or date-time"} in errors
    assert {"row": 3, "field": "signed_at", "msg": "not an ISO 8601 date or date-time"} in errors


def test_invalid_identity_number_is_reported_by_row_without_echo(kit: ConsentKit) -> None:
    good = kit.id_number(40)
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    errors = errors_of(kit, csv_bytes(HEADER, row(kit, good), row(kit, bad, digest="cd" * 32)))
    assert errors == [{"row": 3, "field": "id_number", "msg": "the check character does not match (ISO 7064 MOD 11-2)"}]
    assert bad not in json.dumps(errors)


def test_schema_errors_name_the_column(kit: ConsentKit) -> None:
    number = kit.id_number(40)
    lines = [
        HEADER,
        row(kit, number).replace("tax;banking", "tax;pets"),
        row(kit, kit.id_number(41), digest="not-a-digest"),
        row(kit, kit.id_number(42)).replace("signed_form", "verbal"),
        row(kit, kit.id_number(43)).replace("dibao.application", "Dibao Application"),
    ]
    fields = [(error["row"], error["field"]) for error in errors_of(kit, csv_bytes(*lines))]
    assert fields == [(2, "categories"), (3, "evidence_sha256"), (4, "collection_method"), (5, "purposes")]


def test_a_minor_without_guardian_is_a_row_error(kit: ConsentKit) -> None:
    child = kit.id_number(12, sequence=201)
    errors = errors_of(kit, csv_bytes(HEADER, row(kit, kit.id_number(40)), row(kit, child, digest="cd" * 32)))
    assert errors == [
        {
            "row": 3,
            "field": "collection_method",
            "msg": "the subject is under 18 at signing: collection_method must be guardian",
        }
    ]


def test_guardian_errors_name_the_guardian_columns(kit: ConsentKit) -> None:
    child = kit.id_number(12, sequence=201)
    line = row(kit, child).replace("signed_form", "guardian") + f",,{kit.id_number(15, sequence=303)},sibling"
    errors = errors_of(kit, csv_bytes(HEADER + ",valid_until,guardian_id_number,guardian_relation", line))
    assert errors == [{"row": 2, "field": "guardian_id_number", "msg": "the guardian must be 18 or older at signing"}]
    missing = row(kit, child).replace("signed_form", "guardian") + ",,,"
    errors = errors_of(kit, csv_bytes(HEADER + ",valid_until,guardian_id_number,guardian_relation", missing))
    assert errors[0]["field"] == "guardian_id_number"


def test_an_expired_consent_is_a_row_error(kit: ConsentKit) -> None:
    old = (kit.now - timedelta(days=500)).date().isoformat()
    errors = errors_of(kit, csv_bytes(HEADER, row(kit, kit.id_number(40), signed=old)))
    assert errors == [{"row": 2, "field": "valid_until", "msg": "the consent has already expired"}]


def test_the_same_person_and_form_twice_is_a_row_error(kit: ConsentKit) -> None:
    number = kit.id_number(40)
    errors = errors_of(kit, csv_bytes(HEADER, row(kit, number), row(kit, kit.id_number(41)), row(kit, number)))
    assert errors == [{"row": 4, "field": "evidence_sha256", "msg": "same person and signed form as row 2"}]


def test_broken_quoting(kit: ConsentKit) -> None:
    errors = errors_of(kit, csv_bytes(HEADER, row(kit, kit.id_number(40)).replace("form-17", '"form"17')))
    assert errors[0]["msg"].startswith("CSV syntax error")  # type: ignore[union-attr]


def test_every_error_is_collected_and_no_value_is_echoed(kit: ConsentKit) -> None:
    numbers = [kit.id_number(age, sequence=100 + age) for age in (30, 12, 50)]
    bad_last = numbers[2][:17] + ("0" if numbers[2][17] != "0" else "1")
    data = csv_bytes(HEADER, row(kit, numbers[0]), row(kit, numbers[1]), row(kit, bad_last))
    errors = errors_of(kit, data)
    assert [error["row"] for error in errors] == [3, 4]
    text = json.dumps(errors, ensure_ascii=False)
    assert all(number not in text for number in [*numbers, bad_last])
