"""The simulated tax agency: XML over HTTP with XSD (contracts/agencies/tax/), served by aiohttp.

``POST /xml/income-query`` takes an ``incomeQuery`` document and answers an ``incomeQueryResult``, or an
``incomeQueryError`` with HTTP 400 (malformed or schema-invalid), 413 or 415. Requests are parsed with the
same hardened parser as agency answers.

The answer covers the 12 calendar months before the request's ``asOf``. The population's monthly series
cover the 12 months before ``Population.as_of``; a month of the request's window that the population does
not cover is answered as 0 with no record. Registered businesses and the 12-month medical figure are
point-in-time data and are answered as the population holds them, whatever the ``asOf``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal

from aiohttp import web
from lxml import etree

from adapters.tax import NAMESPACE, qname, reporting_months, request_schema
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Person, Population
from adapters.xmlsafe import parse_xml, validate
from gateway.errors import SourceProtocolError

_MAX_REQUEST_BYTES = 256 * 1024
_XML_MEDIA_TYPES = frozenset({"application/xml", "text/xml"})
_MAX_MESSAGE_CHARS = 500  # incomeQueryError/message maxLength in the response XSD


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    """The tax agency's aiohttp application, answering from ``population``, with ``faults`` applied."""
    agency = _TaxAgency(population, faults)
    app = web.Application(middlewares=[faults.middleware], client_max_size=_MAX_REQUEST_BYTES)
    app.router.add_get("/health", _health)
    app.router.add_post("/xml/income-query", agency.income_query)
    return app


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


class _TaxAgency:
    def __init__(self, population: Population, faults: FaultInjector) -> None:
        self._population = population
        self._faults = faults
        self._ledger_index = {month: index for index, month in enumerate(reporting_months(population.as_of))}
        # Record ids are keyed digests, opaque like a real bureau's sequence numbers: an unkeyed hash of an
        # identity number could be reversed by trying every number.
        self._record_key = secrets.token_bytes(32)
        self._people = [person.id_number for household in population.households for person in household.members]

    async def income_query(self, request: web.Request) -> web.Response:
        if request.content_type not in _XML_MEDIA_TYPES:
            return _error(415, "unsupported_media_type", "send the income query as application/xml")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "request_too_large", f"an income query is at most {_MAX_REQUEST_BYTES} bytes")
        try:
            query = parse_xml(body, max_bytes=_MAX_REQUEST_BYTES)
        except SourceProtocolError as exc:
            return _error(400, "malformed_xml", exc.detail)
        try:
            validate(request_schema(), query, "income query")
        except SourceProtocolError as exc:
            return _error(400, "schema_invalid", exc.detail)
        return _xml_response(200, self._answer(query))

    def _answer(self, query: etree._Element) -> etree._Element:
        as_of = date.fromisoformat(query.findtext(qname("asOf")))
        months = reporting_months(as_of)
        root = _root("incomeQueryResult")
        _text(root, "requestId", query.findtext(qname("requestId")))
        _text(root, "asOf", as_of.isoformat())
        etree.SubElement(root, qname("window"), {"from": months[0], "to": months[-1]})
        _text(root, "issuedAt", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        persons = list(query.iterfind(f"{qname('persons')}/{qname('person')}"))
        asked_numbers = [str(asked.findtext(qname("idNumber"))) for asked in persons]
        for asked, id_number in zip(persons, asked_numbers, strict=True):
            record_of, label = self._faults.whose_record(id_number, self._people, asked_numbers)
            answer = etree.SubElement(root, qname("person"), ref=asked.get("ref"), taxpayerId=label)
            person = self._population.person(record_of)
            if person is None:
                etree.SubElement(answer, qname("noRecord"))
            else:
                self._records(answer, person, months)
        return root

    def _records(self, answer: etree._Element, person: Person, months: tuple[str, ...]) -> None:
        for month in months:
            element = etree.SubElement(answer, qname("month"), period=month)
            # Withholding declarations (扣缴申报), operating-income declarations (经营所得) and the
            # social-insurance ledger's pension payments.
            for tag, kind, series in (
                ("wages", "WH", person.wages),
                ("businessIncome", "OB", person.business_income),
                ("pension", "SI", person.pension),
            ):
                index = self._ledger_index.get(month)
                amount = series[index] if index is not None else 0
                _amount(element, tag, amount, self._record_id(kind, month, person))
        for business in person.businesses:
            record_id = self._record_id("TR", business.credit_code, person)
            element = etree.SubElement(
                answer, qname("registeredBusiness"), creditCode=business.credit_code, recordId=record_id
            )
            _text(element, "name", business.name)
            _text(element, "registeredCapital", _yuan(business.registered_capital))
        # The serious-illness medical deduction (大病医疗) claimed in the IIT annual settlement.
        medical = person.medical_expenses_12m
        _amount(answer, "medicalExpenses12m", medical, self._record_id("AS", "medical", person))

    def _record_id(self, kind: str, key: str, person: Person) -> str:
        digest = hmac.new(self._record_key, f"{kind}|{key}|{person.id_number}".encode(), hashlib.sha256)
        return f"{kind}-{digest.hexdigest()[:20].upper()}"


def _root(local: str) -> etree._Element:
    return etree.Element(qname(local), nsmap={None: NAMESPACE}, version="1")


def _text(parent: etree._Element, local: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, qname(local))
    element.text = text
    return element


def _amount(parent: etree._Element, tag: str, amount: int, record_id: str) -> None:
    element = _text(parent, tag, _yuan(amount))
    if amount:  # a zero is the absence of a record, so it carries no record id
        element.set("recordId", record_id)


def _yuan(amount: int) -> str:
    return f"{Decimal(amount):.2f}"


def _error(status: int, code: str, message: str) -> web.Response:
    root = _root("incomeQueryError")
    _text(root, "code", code)
    _text(root, "message", message[:_MAX_MESSAGE_CHARS])
    return _xml_response(status, root)


def _xml_response(status: int, root: etree._Element) -> web.Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return web.Response(status=status, body=body, content_type="application/xml", charset="utf-8")
