"""Server side of the simulated SOAP 1.1 agencies: envelope parsing, XSD validation, answers and faults.

A simulated agency declares its contract files and one handler per operation; :func:`create_soap_app` turns
that into an aiohttp application speaking SOAP 1.1 over HTTP (document/literal):

- ``POST /soap``: Content-Type text/xml (else HTTP 415), the SOAPAction of the operation, one SOAP 1.1
  envelope parsed by the hardened parser, the body element validated against the agency's XSD. Every SOAP
  error is a Fault with HTTP 500 (SOAP 1.1 §6.2).
- ``GET /soap?wsdl``: the WSDL, its address and schema location pointing back at this server;
  ``GET /soap?xsd=1``: the XSD.
- ``GET /health``.

Both simulated agencies answer one operation about a list of identity numbers (the convention of
:mod:`adapters.soap`); :func:`create_id_number_query_app` builds such a service from the agency's
record of one person.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from aiohttp import web
from lxml import etree

from adapters.soap import SOAP_ENV_NS, contract_file
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Population
from adapters.xmlsafe import load_schema, parse_xml, validate
from gateway.errors import SourceProtocolError

_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"

OperationHandler = Callable[[etree._Element], etree._Element]
# The agency's record about one identity number, Found false when the population does not hold it.
PersonRecord = Callable[[Population, str], etree._Element]


@dataclass(frozen=True, slots=True)
class SoapOperation:
    """One operation: the SOAPAction its binding declares and the handler from request to response element."""

    soap_action: str
    handle: OperationHandler


@dataclass(frozen=True, slots=True)
class SoapService:
    """A simulated SOAP service: its WSDL and XSD, and its operations keyed by request element (Clark name)."""

    wsdl: Path
    schema: Path
    operations: Mapping[str, SoapOperation]


@dataclass(frozen=True, slots=True)
class AgencyNamespace:
    """One agency's target namespace, and the prefix its answers declare for it."""

    uri: str
    prefix: str

    def qname(self, name: str) -> str:
        """``name`` in this namespace, in Clark notation."""
        return f"{{{self.uri}}}{name}"

    def add(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        """Append the child ``name`` (in this namespace) holding ``text`` to ``parent``."""
        child = etree.SubElement(parent, self.qname(name))
        child.text = text
        return child


class _Fault(Exception):
    """A SOAP 1.1 fault to answer with (§4.4.1 codes: VersionMismatch, MustUnderstand, Client, Server)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def create_soap_app(service: SoapService, faults: FaultInjector) -> web.Application:
    """An aiohttp application serving ``service`` with the fault injector's middleware in front."""
    schema = load_schema(service.schema)
    wsdl = etree.parse(str(service.wsdl), parser=etree.XMLParser(no_network=True))
    xsd_bytes = service.schema.read_bytes()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def describe(request: web.Request) -> web.Response:
        if "wsdl" in request.query:
            return web.Response(body=_wsdl_for(wsdl, request), content_type="text/xml", charset="utf-8")
        if request.query.get("xsd") == "1":
            return web.Response(body=xsd_bytes, content_type="text/xml", charset="utf-8")
        raise web.HTTPNotFound()

    async def soap(request: web.Request) -> web.Response:
        if request.content_type != "text/xml":  # SOAP 1.1 §6.1
            raise web.HTTPUnsupportedMediaType(text="SOAP 1.1 requests are text/xml")
        try:
            payload = _request_payload(await request.read())
            operation = service.operations.get(payload.tag)
            if operation is None:
                raise _Fault("Client", "the body element is not an operation of this service")
            # SOAP 1.1 §6.1.1: a quoted URI naming the intent; it must be the operation's declared action.
            if request.headers.get("SOAPAction", "").strip('"') != operation.soap_action:
                raise _Fault("Client", "the SOAPAction header does not match the operation")
            try:
                validate(schema, payload, "the request")
            except SourceProtocolError as exc:  # its message names the rule and path, never the value
                raise _Fault("Client", exc.detail) from exc
            answer = operation.handle(payload)
        except _Fault as fault:
            return _fault_response(fault)
        return web.Response(body=envelope(answer), content_type="text/xml", charset="utf-8")

    app = web.Application(middlewares=[faults.middleware])
    app.router.add_get("/health", health)
    app.router.add_get("/soap", describe)
    app.router.add_post("/soap", soap)
    return app


def create_id_number_query_app(
    agency: str,
    namespace: AgencyNamespace,
    operation: str,
    person_record: PersonRecord,
    population: Population,
    faults: FaultInjector,
) -> web.Application:
    """The service of ``contracts/agencies/<agency>/`` with its one ``operation`` about identity numbers.

    The answer holds the ResponseHeader, then ``person_record`` of each ``IdNumber`` asked, in request order.
    """
    prefix = namespace.prefix
    prefixes = {prefix: namespace.uri}
    people = [person.id_number for household in population.households for person in household.members]

    def query(request: etree._Element) -> etree._Element:
        answer = etree.Element(namespace.qname(f"{operation}Response"), nsmap=prefixes)
        request_id = request.findtext(f"{prefix}:RequestHeader/{prefix}:RequestId", namespaces=prefixes) or ""
        answer.append(_response_header(namespace, request_id, population.as_of))
        asked = [str(element.text) for element in request.iterfind(f"{prefix}:IdNumber", namespaces=prefixes)]
        for id_number in asked:
            record_of, label = faults.whose_record(id_number, people, asked)
            record = person_record(population, record_of)
            named = record.find(namespace.qname("IdNumber"))
            if named is not None:  # the record names its person (fault injection may relabel it)
                named.text = label
            answer.append(record)
        return answer

    service = SoapService(
        wsdl=contract_file(agency, f"{agency}.wsdl"),
        schema=contract_file(agency, f"{agency}.xsd"),
        operations={namespace.qname(operation): SoapOperation(f"{namespace.uri}/{operation}", query)},
    )
    return create_soap_app(service, faults)


def envelope(payload: etree._Element) -> bytes:
    """A SOAP 1.1 envelope (§4) whose Body holds ``payload``, serialised as UTF-8."""
    root = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    etree.SubElement(root, f"{{{SOAP_ENV_NS}}}Body").append(payload)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def record_number(key: int, prefix: str, *parts: str) -> str:
    """A stable registry record number, e.g. ``SWDJ-3F2A9C01B7D4``, that does not reveal whom it is about.

    Keyed by the population seed, so the same population always gets the same record numbers.
    """
    digest = hmac.new(str(key).encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:12].upper()}"


def _response_header(namespace: AgencyNamespace, request_id: str, data_as_of: date) -> etree._Element:
    """The ResponseHeader both agencies' schemas share: echoed request id, data date, answer time."""
    header = etree.Element(namespace.qname("ResponseHeader"))
    for name, text in (
        ("RequestId", request_id),
        ("DataAsOf", data_as_of.isoformat()),
        ("RespondedAt", datetime.now(UTC).isoformat(timespec="seconds")),
    ):
        namespace.add(header, name, text)
    return header


def _request_payload(body: bytes) -> etree._Element:
    try:
        root = parse_xml(body)
    except SourceProtocolError as exc:
        raise _Fault("Client", "the request is not well-formed XML or declares a DTD") from exc
    if etree.QName(root).localname != "Envelope":
        raise _Fault("Client", "the request is not a SOAP envelope")
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":  # SOAP 1.1 §4.1.2
        raise _Fault("VersionMismatch", "only SOAP 1.1 envelopes are understood")
    for block in root.iterfind(f"{{{SOAP_ENV_NS}}}Header/*"):
        # SOAP 1.1 §4.2.3: this service understands no header blocks.
        if block.get(f"{{{SOAP_ENV_NS}}}mustUnderstand") == "1":
            raise _Fault("MustUnderstand", "a mandatory header block is not understood")
    payload = list(root.iterfind(f"{{{SOAP_ENV_NS}}}Body/*"))
    if len(payload) != 1:
        raise _Fault("Client", "the SOAP body must hold exactly one element")
    return payload[0]


def _fault_response(fault: _Fault) -> web.Response:
    element = etree.Element(f"{{{SOAP_ENV_NS}}}Fault")
    # SOAP 1.1 §4.4: faultcode and faultstring are unqualified; the code is a QName in the envelope namespace.
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.reason
    # SOAP 1.1 §6.2: a fault is answered with HTTP 500.
    return web.Response(status=500, body=envelope(element), content_type="text/xml", charset="utf-8")


def _wsdl_for(wsdl: etree._ElementTree, request: web.Request) -> bytes:
    """The WSDL as this server publishes it: address and schema location made absolute for the caller."""
    document = copy.deepcopy(wsdl)
    origin = f"{request.scheme}://{request.host}"
    for address in document.iterfind(f".//{{{_WSDL_SOAP_NS}}}address"):
        address.set("location", f"{origin}/soap")
    for schema_import in document.iterfind(f".//{{{_WSDL_NS}}}types/{{{_XSD_NS}}}schema/{{{_XSD_NS}}}import"):
        schema_import.set("schemaLocation", f"{origin}/soap?xsd=1")
    return bytes(etree.tostring(document, xml_declaration=True, encoding="utf-8"))
