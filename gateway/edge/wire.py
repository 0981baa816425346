"""The bodies exchanged between the hub and an edge node, inside envelopes (docs/federation.md).

A query carries only what the agency needs: the adapter asked, the verification id, purpose, region, as-of
date and the identity numbers by position (no names, no relations). An answer carries the facts, their
provenance and the agency's attestation. Both sides parse what they receive strictly: ASCII identifiers,
full-string matches, bounded sizes, and a fact may only name a member the query listed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from adapters.base import Fact, FactValue, Provenance, QueryMember, SourceQuery, SourceResult
from gateway.errors import InvalidIdNumber, InvalidInput, SourceProtocolError
from gateway.ids import validate_id_number

MAX_MEMBERS = 64
MAX_FACTS = 20_000
_CODE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.:/-]{0,127}")
_PURPOSE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_REGION = re.compile(r"[1-9][0-9]{5}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}")
_RECORD_ID = re.compile(r"[\x21-\x7e]{1,4096}")  # printable ASCII: agencies join references with ';'
_MAX_TEXT = 256


def query_body(adapter: str, query: SourceQuery) -> dict[str, Any]:
    """The body of ``POST /v1/edge/queries`` for ``query``."""
    return {
        "adapter": adapter,
        "verification_id": query.verification_id,
        "purpose": query.purpose,
        "region": query.region,
        "as_of": query.as_of.isoformat(),
        "members": [{"index": m.index, "id_number": m.id_number} for m in query.members],
    }


def parse_query_body(body: Mapping[str, Any], adapter: str) -> SourceQuery:
    """The query an edge received; :class:`InvalidInput` (never quoting values) when it is malformed."""
    if body.get("adapter") != adapter:
        raise InvalidInput("the query names another adapter than this edge serves")
    verification_id = _text(body, "verification_id", _IDENTIFIER, InvalidInput)
    purpose = _text(body, "purpose", _PURPOSE, InvalidInput)
    region = _text(body, "region", _REGION, InvalidInput)
    as_of = _date(_text(body, "as_of", _DATE, InvalidInput), InvalidInput)
    members = body.get("members")
    if not isinstance(members, list) or not 0 < len(members) <= MAX_MEMBERS:
        raise InvalidInput(f"members must list 1 to {MAX_MEMBERS} members")
    parsed: list[QueryMember] = []
    for position, member in enumerate(members):
        if not isinstance(member, dict) or member.get("index") != position or set(member) != {"index", "id_number"}:
            raise InvalidInput(f"member {position} must be {{index, id_number}} in order")
        raw = member["id_number"]
        if not isinstance(raw, str) or len(raw) > 32:
            raise InvalidInput(f"member {position} has no identity number")
        try:
            id_number = validate_id_number(raw)
        except InvalidIdNumber as exc:
            raise InvalidIdNumber(f"member {position}'s identity number is not valid") from exc
        parsed.append(QueryMember(index=position, id_number=id_number, name="", relation=""))
    return SourceQuery(
        verification_id=verification_id, purpose=purpose, region=region, members=tuple(parsed), as_of=as_of
    )


def fact_json(fact: Fact) -> dict[str, Any]:
    """One fact as JSON: the form the attestation's ``facts_digest`` is computed over (RFC 8785)."""
    return {
        "code": fact.code,
        "member": fact.member,
        "value": fact.value,
        "period": fact.period,
        "record_id": fact.record_id,
    }


def result_body(result: SourceResult, attestation: str) -> dict[str, Any]:
    """The body of an edge's answer."""
    return {
        "adapter": result.adapter,
        "facts": [fact_json(fact) for fact in result.facts],
        "provenance": {
            "agency": result.provenance.agency,
            "as_of": result.provenance.as_of.isoformat(),
            "record_ids": list(result.provenance.record_ids),
        },
        "attestation": attestation,
    }


def parse_result_body(body: Mapping[str, Any], adapter: str, members: int) -> tuple[SourceResult, str]:
    """The facts and attestation of an edge's answer; :class:`SourceProtocolError` when malformed."""
    if body.get("adapter") != adapter:
        raise SourceProtocolError("the edge answered for another adapter")
    attestation = body.get("attestation")
    if not isinstance(attestation, str) or not 0 < len(attestation) <= 16_384:
        raise SourceProtocolError("the edge's answer carries no attestation")
    facts = body.get("facts")
    if not isinstance(facts, list) or len(facts) > MAX_FACTS:
        raise SourceProtocolError("the edge's facts are not a bounded list")
    provenance = body.get("provenance")
    if not isinstance(provenance, dict):
        raise SourceProtocolError("the edge's answer carries no provenance")
    record_ids = provenance.get("record_ids")
    if not isinstance(record_ids, list) or len(record_ids) > MAX_FACTS:
        raise SourceProtocolError("the provenance's record_ids are not a bounded list")
    result = SourceResult(
        adapter=adapter,
        facts=tuple(_fact(fact, members) for fact in facts),
        provenance=Provenance(
            agency=_text(provenance, "agency", _IDENTIFIER, SourceProtocolError),
            as_of=_date(_text(provenance, "as_of", _DATE, SourceProtocolError), SourceProtocolError),
            record_ids=tuple(_record_id(value) for value in record_ids),
        ),
    )
    return result, attestation


def facts_of(facts: Sequence[Mapping[str, Any]], members: int) -> tuple[Fact, ...]:
    """Facts from their JSON form (as stored by the hub), checked as strictly as an edge's answer."""
    return tuple(_fact(fact, members) for fact in facts)


def _fact(raw: Any, members: int) -> Fact:
    if not isinstance(raw, dict) or set(raw) != {"code", "member", "value", "period", "record_id"}:
        raise SourceProtocolError("a fact must be {code, member, value, period, record_id}")
    code = _text(raw, "code", _CODE, SourceProtocolError)
    member = raw["member"]
    if isinstance(member, bool) or not isinstance(member, int) or not 0 <= member < members:
        raise SourceProtocolError("a fact names a member the query did not list")
    period = raw["period"]
    if period is not None and not (isinstance(period, str) and _PERIOD.fullmatch(period)):
        raise SourceProtocolError("a fact's period is not YYYY-MM")
    record_id = raw["record_id"]
    return Fact(
        code=code,
        member=member,
        value=_value(raw["value"]),
        period=period,
        record_id=None if record_id is None else _record_id(record_id),
    )


def _value(value: Any) -> FactValue:
    if _is_scalar(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, list) and len(value) <= 64 and all(_is_scalar(item) for item in value):
        return value
    if (
        isinstance(value, dict)
        and len(value) <= 64
        and all(isinstance(key, str) and _CODE.fullmatch(key) and _is_scalar(item) for key, item in value.items())
    ):
        return value
    raise SourceProtocolError("a fact's value is not a scalar, a list of scalars or a flat object")


def _is_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= _MAX_TEXT
    return value is None or isinstance(value, bool | int | float)


def _record_id(value: Any) -> str:
    if not isinstance(value, str) or not _RECORD_ID.fullmatch(value):
        raise SourceProtocolError("a record id is not printable ASCII")
    return value


def _text(body: Mapping[str, Any], name: str, pattern: re.Pattern[str], error: type[Exception]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise error(f"{name} is missing or malformed")
    return value


def _date(text: str, error: type[Exception]) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise error("a date is not a calendar date") from exc
