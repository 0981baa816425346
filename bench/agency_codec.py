"""Agency codecs: what building and reading one agency message costs the hub, per call (issue 12).

SOAP (civil affairs): zeep builds the request from the WSDL on every call (``Client.create_message``)
against the same request built once from the WSDL and then filled in as an lxml template; on the answer,
the hardened parse, the XSD validation and zeep's ``process_reply`` (which parses the bytes again).
Tax (XML + XSD): the request with and without its XSD check before sending, and the answer's parse, XSD
validation and mapping to facts. Everything runs in this process on real documents: the answers are
captured once from the simulated agencies over HTTP.
"""

from __future__ import annotations

import argparse
import copy
from datetime import date
from typing import Any

import aiohttp
from lxml import etree

from adapters.base import QueryMember, SourceQuery
from adapters.civil_affairs import CivilAffairsAdapter
from adapters.soap import _Reply
from adapters.tax._contract import response_schema
from adapters.tax._messages import build_request, read_answer
from adapters.testkit.agencies import start_agencies, stop_agencies
from adapters.testkit.population import generate
from adapters.xmlsafe import parse_xml, validate
from bench.crypto import per_operation_us
from bench.harness import Column, print_table

NAME = "agency_codec"
DESCRIPTION = "per-call cost of zeep vs an lxml template (SOAP) and of the tax XSD validation"
_SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _query(members: int) -> SourceQuery:
    population = generate(seed=5, households=40, as_of=date(2026, 10, 31))
    people = [person for household in population.households for person in household.members][:members]
    return SourceQuery(
        "bench-codec-0001",
        "dibao.application",
        "110101",
        tuple(QueryMember(i, p.id_number, p.name, p.relation) for i, p in enumerate(people)),
        population.as_of,
    )


async def _capture(soap_request: bytes, soap_action: str, tax_request: bytes) -> tuple[bytes, bytes]:
    """The simulated agencies' real answers to the two requests."""
    population = generate(seed=5, households=40, as_of=date(2026, 10, 31))
    agencies = await start_agencies(population)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{agencies['civil_affairs'].url}/soap",
                data=soap_request,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action}"'},
            ) as response:
                soap_answer = await response.read()
            async with session.post(
                f"{agencies['tax'].url}/xml/income-query",
                data=tax_request,
                headers={"Content-Type": "application/xml"},
            ) as response:
                tax_answer = await response.read()
    finally:
        await stop_agencies(agencies)
    return soap_answer, tax_answer


class _Template:
    """The request built once by zeep from the WSDL; each call copies it and fills in the values."""

    def __init__(self, envelope: etree._Element, namespace: str) -> None:
        self._envelope = envelope
        self._ns = namespace
        operation = envelope.find(f"{{{_SOAP_ENV}}}Body/*")
        assert operation is not None
        self._id_number = operation.find(f"{{{namespace}}}IdNumber")
        assert self._id_number is not None
        for extra in operation.findall(f"{{{namespace}}}IdNumber")[1:]:
            operation.remove(extra)

    def fill(self, query: SourceQuery) -> bytes:
        envelope = copy.deepcopy(self._envelope)
        operation = envelope.find(f"{{{_SOAP_ENV}}}Body/*")
        assert operation is not None
        header = operation.find(f"{{{self._ns}}}RequestHeader")
        assert header is not None
        header[0].text, header[1].text, header[2].text = query.verification_id, query.purpose, query.region
        first = operation.find(f"{{{self._ns}}}IdNumber")
        assert first is not None
        first.text = query.members[0].id_number
        at = list(operation).index(first)
        for offset, member in enumerate(query.members[1:], start=1):
            element = etree.Element(f"{{{self._ns}}}IdNumber")
            element.text = member.id_number
            operation.insert(at + offset, element)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    budget = min(max(args.duration / 3, 0.3), 2.0)
    rows: list[dict[str, Any]] = []
    for members in (1, 4):
        rows += await _measure(members, budget)
    print_table(
        "Agency codecs: CPU per call in this process (median of ~20 ms batches)",
        [Column("members", "members"), Column("operation", "operation"), Column("us", "us/call", ",.1f")],
        rows,
    )
    return rows


async def _measure(members: int, budget: float) -> list[dict[str, Any]]:
    query = _query(members)
    adapter = CivilAffairsAdapter("http://127.0.0.1:9")
    soap = adapter._soap
    client, service = soap._client, soap._service
    parameters = {
        "RequestHeader": {"RequestId": query.verification_id, "PurposeCode": query.purpose, "RegionCode": query.region},
        "IdNumber": [m.id_number for m in query.members],
    }

    def zeep_request() -> bytes:
        envelope = client.create_message(service, "QueryPersons", **parameters)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))

    built = client.create_message(service, "QueryPersons", **parameters)
    template = _Template(built, str(etree.QName(built.find(f"{{{_SOAP_ENV}}}Body/*")).namespace))
    assert etree.tostring(parse_xml(template.fill(query))) == etree.tostring(parse_xml(zeep_request())), (
        "the template must build the very request zeep builds"
    )
    tax_request = build_request(query)
    binding = service._binding
    operation = binding.get("QueryPersons")
    soap_answer, tax_answer = await _capture(zeep_request(), operation.soapaction, tax_request)
    payload = parse_xml(soap_answer).find(f"{{{_SOAP_ENV}}}Body/*")
    tax_root = parse_xml(tax_answer)
    timings = {
        "soap request: zeep create_message": zeep_request,
        "soap request: lxml template from the WSDL": lambda: template.fill(query),
        "soap answer: hardened parse": lambda: parse_xml(soap_answer),
        "soap answer: XSD validation": lambda: validate(soap._schema, payload, "answer"),
        "soap answer: zeep process_reply": lambda: binding.process_reply(client, operation, _Reply(soap_answer)),
        "tax request: build + XSD check": lambda: build_request(query),
        "tax answer: hardened parse": lambda: parse_xml(tax_answer),
        "tax answer: XSD validation": lambda: validate(response_schema(), tax_root, "answer"),
        "tax answer: parse + XSD + facts": lambda: read_answer(
            query, 200, "application/xml", tax_answer, max_bytes=1 << 21
        ),
    }
    rows = [
        {"members": members, "operation": name, "us": per_operation_us(call, budget)} for name, call in timings.items()
    ]
    await adapter.aclose()
    return rows
