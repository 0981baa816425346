"""Agency codecs: what building and reading one agency message costs the hub, per call (issue 12).

SOAP (civil affairs): zeep builds the request from the WSDL on every call (``Client.create_message``)
against the same request built once from the WSDL and then filled in as an lxml template; on the answer,
the hardened parse, the XSD validation, zeep's ``process_reply`` (which parses the bytes again) against
deserialising the tree already parsed.
Tax (XML + XSD): the request with and without its XSD check before sending, and the answer's parse, XSD
validation and mapping to facts. Everything runs in this process on real documents: the answers are
captured once from the simulated agencies over HTTP.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp
from lxml import etree

from adapters.base import QueryMember, SourceQuery
from adapters.civil_affairs import CivilAffairsAdapter
from adapters.soap import IdNumberQuery
from adapters.tax._contract import response_schema
from adapters.tax._messages import build_request, read_answer
from adapters.testkit.agencies import start_agencies, stop_agencies
from adapters.testkit.population import generate
from adapters.xmlsafe import parse_xml, validate
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


def _cpu_us(operations: dict[str, Callable[[], object]], budget_s: float) -> dict[str, float]:
    """Median CPU microseconds per call of each operation (``time.process_time``: time spent descheduled
    on a shared machine does not count), measured round-robin in batches so they share the conditions."""
    calls = {}
    for name, operation in operations.items():  # calibrate: about 10 ms of CPU per batch
        count = 1
        while True:
            started = time.process_time()
            for _ in range(count):
                operation()
            if time.process_time() - started >= 0.01:
                break
            count *= 2
        calls[name] = count
    samples: dict[str, list[float]] = {name: [] for name in operations}
    deadline = time.process_time() + budget_s * len(operations)
    while time.process_time() < deadline or min(len(found) for found in samples.values()) < 5:
        for name, operation in operations.items():
            started = time.process_time()
            for _ in range(calls[name]):
                operation()
            samples[name].append((time.process_time() - started) / calls[name])
    return {name: statistics.median(found) * 1e6 for name, found in samples.items()}


@dataclass(frozen=True, slots=True)
class _Reply:
    """The slice of a requests.Response that zeep's ``process_reply`` reads (what the adapter used before)."""

    content: bytes
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/xml; charset=utf-8"})
    encoding: str = "utf-8"


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    budget = min(max(args.duration / 3, 0.3), 2.0)
    rows: list[dict[str, Any]] = []
    for members in (1, 4):
        rows += await _measure(members, budget)
    print_table(
        "Agency codecs: CPU per call in this process (process time, median of ~10 ms batches, round-robin)",
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

    template = IdNumberQuery(soap, "QueryPersons")
    asked = [m.id_number for m in query.members]

    def template_request() -> bytes:
        envelope = template.fill(query.verification_id, query.purpose, query.region, asked)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))

    assert template_request() == zeep_request(), "the template must build the very request zeep builds"
    tax_request = build_request(query)
    binding = service._binding
    operation = binding.get("QueryPersons")
    soap_answer, tax_answer = await _capture(zeep_request(), operation.soapaction, tax_request)
    answer_root = parse_xml(soap_answer)
    payload = answer_root.find(f"{{{_SOAP_ENV}}}Body/*")
    tax_root = parse_xml(tax_answer)
    timings: dict[str, Callable[[], object]] = {
        "soap request: zeep create_message": zeep_request,
        "soap request: template from the WSDL, filled (kept)": template_request,
        "soap answer: hardened parse": lambda: parse_xml(soap_answer),
        "soap answer: XSD validation": lambda: validate(soap._schema, payload, "answer"),
        "soap answer: zeep process_reply (parses again)": lambda: binding.process_reply(
            client, operation, _Reply(soap_answer)
        ),
        "soap answer: zeep deserialize of the parsed tree (kept)": lambda: operation.output.deserialize(answer_root),
        "tax request: build + XSD check": lambda: build_request(query),
        "tax answer: hardened parse": lambda: parse_xml(tax_answer),
        "tax answer: XSD validation": lambda: validate(response_schema(), tax_root, "answer"),
        "tax answer: parse + XSD + facts": lambda: read_answer(
            query, 200, "application/xml", tax_answer, max_bytes=1 << 21
        ),
    }
    rows = [{"members": members, "operation": name, "us": us} for name, us in _cpu_us(timings, budget).items()]
    await adapter.aclose()
    return rows
