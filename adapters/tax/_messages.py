"""Income-query documents on the hub side: build and check the request, check and map the answer."""

from __future__ import annotations

import re
from decimal import Decimal

from lxml import etree

from adapters.base import Fact, JsonScalar, SourceQuery
from adapters.tax._contract import NAMESPACE, VERSION, qname, reporting_months, request_schema, response_schema
from adapters.xmlsafe import parse_xml, validate
from gateway.errors import (
    InvalidCreditCode,
    InvalidInput,
    RecordMismatch,
    SourceProtocolError,
    SourceUnavailable,
)
from gateway.ids import validate_credit_code

# RFC 7303 §4: the XML media types an agency may label its answer with.
_XML_MEDIA_TYPES = frozenset({"application/xml", "text/xml"})
# The facts of a month's children, in the XSD's order: wages, businessIncome, pension (contracts/indicators.yaml).
_MONTHLY_CODES = ("income.wages", "income.business", "income.pension")
# A whole amount in its usual lexical form (xs:decimal allows others: those go through Decimal).
_WHOLE_YUAN = re.compile(r"[+-]?[0-9]{1,15}\.00")


def build_request(query: SourceQuery) -> bytes:
    """The ``incomeQuery`` document for ``query``, checked against the request XSD before it leaves.

    Only identity numbers go out, not names: the tax bureau matches on the number alone.
    A query that cannot form a valid request raises :class:`InvalidInput` (the hub let bad input through).
    """
    root = etree.Element(qname("incomeQuery"), nsmap={None: NAMESPACE}, version=VERSION)
    try:
        etree.SubElement(root, qname("requestId")).text = query.verification_id
        etree.SubElement(root, qname("purpose")).text = query.purpose
        etree.SubElement(root, qname("asOf")).text = query.as_of.isoformat()
        persons = etree.SubElement(root, qname("persons"))
        for member in query.members:
            person = etree.SubElement(persons, qname("person"), ref=str(member.index))
            etree.SubElement(person, qname("idNumber")).text = member.id_number
    except ValueError as exc:  # lxml refuses control characters in text
        raise InvalidInput("the tax request contains characters XML cannot carry") from exc
    try:
        validate(request_schema(), root, "tax request")
    except SourceProtocolError as exc:
        raise InvalidInput(f"refused before sending: {exc.detail}") from exc
    body: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return body


def read_answer(
    query: SourceQuery, status: int, content_type: str, payload: bytes, *, max_bytes: int
) -> tuple[Fact, ...]:
    """Check the agency's answer to ``query`` against the response XSD and the request; map it to facts."""
    if status == 429:
        raise SourceUnavailable("tax agency is throttling requests (HTTP 429)")
    if status != 200:
        raise SourceProtocolError(_refusal(status, content_type, payload, max_bytes))
    root = _parse_valid(content_type, payload, max_bytes)
    if root.tag != qname("incomeQueryResult"):
        raise SourceProtocolError("tax answer with HTTP 200 is not an incomeQueryResult")
    return _facts(query, root)


def _parse_valid(content_type: str, payload: bytes, max_bytes: int) -> etree._Element:
    if content_type not in _XML_MEDIA_TYPES:
        raise SourceProtocolError(f"tax answer has content type {content_type!r}, not XML")
    root = parse_xml(payload, max_bytes=max_bytes)
    validate(response_schema(), root, "tax answer")
    return root


def _refusal(status: int, content_type: str, payload: bytes, max_bytes: int) -> str:
    """Describe a non-200 answer by its error code; the agency's free-text message is not repeated."""
    try:
        root = _parse_valid(content_type, payload, max_bytes)
    except SourceProtocolError:
        return f"tax agency answered HTTP {status}"
    if root.tag != qname("incomeQueryError"):
        return f"tax agency answered HTTP {status}"
    return f"tax agency refused the request: HTTP {status} {root.findtext(qname('code'))}"


def _facts(query: SourceQuery, root: etree._Element) -> tuple[Fact, ...]:
    months = reporting_months(query.as_of)
    if root.findtext(qname("requestId")) != query.verification_id:
        raise SourceProtocolError("tax answer is for another request (requestId differs)")
    if root.findtext(qname("asOf")) != query.as_of.isoformat():
        raise SourceProtocolError("tax answer is for another reference date (asOf differs)")
    window = root.find(qname("window"))
    if (window.get("from"), window.get("to")) != (months[0], months[-1]):
        raise SourceProtocolError("tax answer window is not the 12 months before asOf")
    answers = {int(person.get("ref")): person for person in root.iterchildren(qname("person"))}
    if sorted(answers) != sorted(member.index for member in query.members):
        raise SourceProtocolError("tax answer does not list exactly the persons asked about")
    facts: list[Fact] = []
    for member in query.members:
        answer = answers[member.index]
        # Issue 11 defect 7: a ref is a position, not a person. Keep records only about the number asked.
        if answer.get("taxpayerId") != member.id_number.upper():
            raise RecordMismatch(f"tax answer for ref {member.index} is about another taxpayer")
        if answer.find(qname("noRecord")) is None:
            facts.extend(_person_facts(member.index, answer, months))
    return tuple(facts)


def _person_facts(index: int, answer: etree._Element, months: tuple[str, ...]) -> list[Fact]:
    month_elements = list(answer.iterchildren(qname("month")))
    if tuple(element.get("period") for element in month_elements) != months:
        raise SourceProtocolError("tax answer months are not the 12 months before asOf, oldest first")
    facts: list[Fact] = []
    for element in month_elements:
        period = element.get("period")
        # The XSD fixes the children of a month, in this order: one pass instead of a look-up per fact.
        for amount, code in zip(element, _MONTHLY_CODES, strict=True):
            facts.append(Fact(code, index, _yuan(amount.text), period=period, record_id=amount.get("recordId")))
    for business in answer.iterchildren(qname("registeredBusiness")):
        try:
            credit_code = validate_credit_code(business.get("creditCode"))
        except InvalidCreditCode as exc:
            raise SourceProtocolError("tax answer has a business with an invalid credit code") from exc
        value: dict[str, JsonScalar] = {
            "credit_code": credit_code,
            "name": business.findtext(qname("name")),
            "registered_capital": _yuan(business.findtext(qname("registeredCapital"))),
        }
        facts.append(Fact("business.registered", index, value, record_id=business.get("recordId")))
    medical = answer.find(qname("medicalExpenses12m"))
    facts.append(Fact("expense.medical_12m", index, _yuan(medical.text), record_id=medical.get("recordId")))
    return facts


def _yuan(text: str) -> int | float:
    """An XSD decimal amount: whole yuan as int (the usual case), fen as float."""
    if _WHOLE_YUAN.fullmatch(text):  # the usual case, without a Decimal
        return int(text[:-3])
    amount = Decimal(text)
    return int(amount) if amount == amount.to_integral_value() else float(amount)
