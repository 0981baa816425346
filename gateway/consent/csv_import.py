"""Consents from a CSV file a county office exports (``hedui consent import``); columns in docs/consent.md.

RFC 4180 CSV in UTF-8, with or without a byte-order mark, one consent per row, a header row first. A file is
imported whole or not at all: every row is checked first, and every error is reported by row number
(the header is row 1) and column, never with the cell's content.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from gateway.consent.rules import CHINA_STANDARD_TIME, ConsentTerms, check_terms
from gateway.consent.schema import ConsentRegistration, ConsentView
from gateway.consent.service import ConsentService
from gateway.errors import ConsentAlreadyRegistered, ConsentImportInvalid, InvalidInput
from gateway.members import MemberRecord

REQUIRED_COLUMNS = (
    "id_number",
    "purposes",
    "categories",
    "collection_method",
    "evidence_sha256",
    "evidence_ref",
    "signed_at",
)
OPTIONAL_COLUMNS = ("legal_basis", "valid_from", "valid_until", "guardian_id_number", "guardian_relation")
MAX_ROWS = 10_000  # keeps the duplicate check's IN lists within SQLite's and PostgreSQL's parameter limits
LIST_SEPARATOR = ";"

_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME_COLUMNS = ("signed_at", "valid_from", "valid_until")
RowError = dict[str, Any]


def parse_consent_csv(data: bytes, *, grantee: str, now: datetime) -> list[tuple[int, ConsentRegistration]]:
    """Every row as ``(row number, registration)``, each checked by the registration rules; raises
    :class:`ConsentImportInvalid` listing every error (``{"row", "field", "msg"}``) when any row fails."""
    try:
        text = data.decode("utf-8-sig")  # Excel writes a BOM; it is not part of the first column's name
    except UnicodeDecodeError:
        raise ConsentImportInvalid("the file is not UTF-8", errors=[_error(None, None, "not UTF-8")]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    parsed: list[tuple[int, ConsentRegistration]] = []
    errors: list[RowError] = []
    first_row_of: dict[tuple[str, str], int] = {}
    data_rows = 0
    try:
        header = next(reader, None)
        if header is None:
            raise ConsentImportInvalid("the file is empty", errors=[_error(1, None, "no header row")])
        columns = _columns(header)
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            data_rows += 1
            if data_rows > MAX_ROWS:
                too_many = [_error(row_number, None, f"more than {MAX_ROWS} rows")]
                raise ConsentImportInvalid("the file is too long; split it", errors=too_many)
            problems, terms = _row(columns, cells, grantee=grantee, now=now)
            if terms is not None:
                key = (terms.subject.value, terms.registration.evidence.sha256)
                if key in first_row_of:
                    problems.append(("evidence_sha256", f"same person and signed form as row {first_row_of[key]}"))
                first_row_of.setdefault(key, row_number)
            errors.extend(_error(row_number, field, msg) for field, msg in problems)
            if terms is not None and not problems:
                parsed.append((row_number, terms.registration))
    except csv.Error:
        bad_quoting = [_error(None, None, f"CSV syntax error near line {reader.line_num}")]
        raise ConsentImportInvalid("the file is not valid CSV", errors=bad_quoting) from None
    if errors:
        raise ConsentImportInvalid(f"{len(errors)} error(s); nothing was imported", errors=errors)
    if not data_rows:
        raise ConsentImportInvalid("the file has no consent rows", errors=[_error(None, None, "no data rows")])
    return parsed


async def import_consents(
    service: ConsentService, data: bytes, *, controller: MemberRecord, now: datetime | None = None
) -> list[tuple[int, ConsentView]]:
    """Parse and register a whole file in one transaction; the consents are granted to ``controller``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    parsed = parse_consent_csv(data, grantee=controller.member_id, now=now)
    try:
        views = await service.register([registration for _, registration in parsed], controller=controller, now=now)
    except ConsentAlreadyRegistered as exc:
        entries: Sequence[int] = exc.extensions.get("entries", [])
        errors = [
            _error(parsed[entry][0], "evidence_sha256", "already registered for this person") for entry in entries
        ] or [_error(None, None, exc.detail)]
        raise ConsentImportInvalid(f"{len(errors)} error(s); nothing was imported", errors=errors) from None
    return [(row_number, view) for (row_number, _), view in zip(parsed, views, strict=True)]


def _columns(header: Sequence[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    # An unknown column is named by position: a file without its header row would otherwise echo data.
    errors = [
        _error(1, None, f"column {position} is not a known column (see docs/consent.md)")
        for position, name in enumerate(columns, start=1)
        if name not in known
    ]
    errors += [_error(1, name, "required column is missing") for name in REQUIRED_COLUMNS if name not in columns]
    errors += [_error(1, name, "column appears twice") for name in sorted(known) if columns.count(name) > 1]
    if errors:
        raise ConsentImportInvalid("the header row is not valid", errors=errors)
    return columns


def _row(
    columns: Sequence[str], cells: Sequence[str], *, grantee: str, now: datetime
) -> tuple[list[tuple[str | None, str]], ConsentTerms | None]:
    """The row's problems as ``(column, message)``, or its checked terms."""
    if len(cells) != len(columns):
        return [(None, f"{len(cells)} cells where the header has {len(columns)}")], None
    values = {column: cell.strip() for column, cell in zip(columns, cells, strict=True)}
    problems: list[tuple[str | None, str]] = [
        (name, "required value is empty") for name in REQUIRED_COLUMNS if not values[name]
    ]
    times: dict[str, datetime | None] = {}
    for name in _TIME_COLUMNS:
        try:
            times[name] = _moment(values.get(name, ""), end_of_day=name == "valid_until")
        except ValueError:
            problems.append((name, "not an ISO 8601 date or date-time"))
    if problems:
        return problems, None
    try:
        registration = ConsentRegistration.model_validate(_body(values, times, grantee))
    except ValidationError as exc:
        return [(_column(error["loc"]), error["msg"]) for error in exc.errors()], None
    try:
        return [], check_terms(registration, now=now)
    except InvalidInput as exc:
        field = str(exc.extensions.get("field", ""))
        return [(_RULE_FIELDS.get(field, field.replace(".", "_")), exc.detail)], None


def _body(values: Mapping[str, str], times: Mapping[str, datetime | None], grantee: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id_number": values["id_number"],
        "grantee": grantee,
        "purposes": _list(values["purposes"]),
        "categories": _list(values["categories"]),
        "collection_method": values["collection_method"],
        "evidence": {"sha256": values["evidence_sha256"], "ref": values["evidence_ref"]},
        "signed_at": times["signed_at"],
        "valid_from": times["valid_from"],
        "valid_until": times["valid_until"],
    }
    if values.get("legal_basis"):
        body["legal_basis"] = values["legal_basis"]
    if values.get("guardian_id_number") or values.get("guardian_relation"):
        body["guardian"] = {
            "id_number": values.get("guardian_id_number", ""),
            "relation": values.get("guardian_relation", ""),
        }
    return body


def _moment(text: str, *, end_of_day: bool) -> datetime | None:
    """A form's date or date-time. Without an offset it is China Standard Time. A bare ``valid_until``
    date means "through that day": the consent ends at the following midnight."""
    if not text:
        return None
    if _DATE_ONLY.fullmatch(text):
        day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
        return datetime.combine(day, time(), CHINA_STANDARD_TIME)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_STANDARD_TIME)


def _list(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


# Where a rule's field (a path in the request body) lives in the file.
_RULE_FIELDS = {"guardian": "guardian_id_number", "evidence.ref": "evidence_ref"}


def _column(loc: Sequence[int | str]) -> str:
    if len(loc) > 1 and loc[0] in ("evidence", "guardian"):
        return f"{loc[0]}_{loc[1]}"
    return str(loc[0])


def _error(row: int | None, field: str | None, msg: str) -> RowError:
    return {"row": row, "field": field, "msg": msg}
