"""Client side of the SOAP 1.1 agencies (civil affairs, the bank broker): zeep for the contract, aiohttp for I/O.

zeep reads the agency's WSDL and XSD from ``contracts/agencies/<agency>/`` (never over the network), builds
requests (``Client.create_message``) and turns a good answer into Python values (the operation's output
``deserialize``, on the tree the hardened parser already built). The POST itself goes through the adapter's
aiohttp session (docs/architecture.md §7): zeep's own AsyncTransport is httpx-based and is not used.
:class:`SoapAdapter` asks zeep for its request once, as a template it fills in per call: measured in
bench/agency_codec.py, ``create_message`` per call cost several times more, and zeep's ``process_reply``
(which parses the answer's bytes again) about twice what deserialising the parsed tree costs.

Every answer passes through the hardened parser of :mod:`adapters.xmlsafe` (no DTD, no entities, no network,
size limit) and is validated against the agency's XSD before zeep sees it, so zeep only ever deserialises
documents that are well-formed, harmless and inside the contract.

Both agencies follow one convention, which :class:`SoapAdapter` implements once: a single operation asks
about a list of ``IdNumber`` values under a ``RequestHeader`` (RequestId, PurposeCode, RegionCode) and is
answered with a ``ResponseHeader`` echoing the RequestId and one record per number, ``Found`` false for a
person the agency does not know.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlparse

import aiohttp
import zeep
import zeep.exceptions
from lxml import etree

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.http import get_ok, new_session, read_limited
from adapters.xmlsafe import load_schema, parse_xml, validate
from gateway.contracts import CONTRACTS_DIR
from gateway.errors import ConfigurationError, InvalidInput, RecordMismatch, SourceProtocolError, SourceUnavailable

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"  # SOAP 1.1 §4.1.2 (envelope versioning)


# SOAP 1.1 §4.4.1: faults whose code says our message was at fault. "Client.Something" refines "Client".
_OUR_FAULT_CODES = frozenset({"Client", "VersionMismatch", "MustUnderstand"})


def contract_file(agency: str, filename: str) -> Path:
    """A file of ``contracts/agencies/<agency>/``: the WSDL and XSD shared by adapter and simulated agency."""
    return CONTRACTS_DIR / "agencies" / agency / filename


def amount_value(amount: Decimal) -> int | float:
    """A yuan amount as a JSON number for a :class:`adapters.base.Fact`: whole yuan stay integers."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def records_by_id_number(records: Iterable[Any], asked: Collection[str], agency: str) -> dict[str, Any]:
    """Index the per-person records of an answer by identity number, one record per number asked.

    A record about a number that was not asked is another person's record (:class:`RecordMismatch`); a
    duplicate or a missing record breaks the contract.
    """
    indexed: dict[str, Any] = {}
    for record in records:
        id_number = record.IdNumber
        if id_number not in asked:
            raise RecordMismatch(f"{agency} answered with a record about a person not asked about")
        if id_number in indexed:
            raise SourceProtocolError(f"{agency} answered twice about one person")
        indexed[id_number] = record
    if len(indexed) != len(asked):
        raise SourceProtocolError(f"{agency} did not answer for every person asked")
    return indexed


class _ContractFilesOnly:
    """zeep's document loader, restricted to files of one contract directory.

    zeep asks its transport to ``load`` the WSDL and every ``xsd:import``; anything that is not a local file
    under the contract directory (http, https, file:// elsewhere, ../ escapes) is refused, so building a
    client can never reach the network or read unrelated files.
    """

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def load(self, url: str) -> bytes:
        location = urlparse(url)
        path = Path(location.path if location.scheme == "file" else url).resolve()
        if location.scheme not in ("", "file") or not path.is_relative_to(self._root):
            raise ConfigurationError("a WSDL or XSD refers to a document outside its contract directory")
        return path.read_bytes()


class SoapClient:
    """One agency's SOAP 1.1 service at ``base_url + "/soap"``, described by a local WSDL and XSD.

    Build it once per adapter: parsing the WSDL is the slow part. The aiohttp session is opened on the first
    call, inside the running event loop, and closed by :meth:`aclose`.
    """

    def __init__(
        self, agency: str, base_url: str, wsdl: Path, schema: Path, settings: AdapterSettings | None = None
    ) -> None:
        self._agency = agency
        self._endpoint = base_url.rstrip("/") + "/soap"
        self._health_url = base_url.rstrip("/") + "/health"
        self._settings = settings or AdapterSettings()
        self._session: aiohttp.ClientSession | None = None
        zeep_settings = zeep.Settings(
            strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        try:
            self._client = zeep.Client(  # type: ignore[no-untyped-call]  # zeep 4.3 is unannotated
                str(wsdl.resolve()), transport=_ContractFilesOnly(wsdl.parent), settings=zeep_settings
            )
            self._service = self._client.service
            self._schema = load_schema(schema)
        except (zeep.exceptions.Error, etree.LxmlError, OSError, ValueError) as exc:
            raise ConfigurationError(f"the {agency} WSDL or XSD cannot be loaded") from exc

    def message(self, operation: str, **parameters: Any) -> etree._Element:
        """The SOAP envelope zeep builds from the WSDL for ``operation`` with wrapped-style ``parameters``."""
        try:
            envelope: etree._Element = self._client.create_message(  # type: ignore[no-untyped-call]  # unannotated
                self._service, operation, **parameters
            )
        except zeep.exceptions.Error as exc:
            raise SourceProtocolError(f"cannot build a {self._agency} {operation} request") from exc
        return envelope

    async def call(self, operation: str, **parameters: Any) -> Any:
        """Send ``operation`` with the wrapped-style ``parameters``; return zeep's value of the answer."""
        return await self.send(operation, self.message(operation, **parameters))

    async def send(self, operation: str, envelope: etree._Element) -> Any:
        """Send the request ``envelope`` of ``operation``; return zeep's value of the answer.

        Raises :class:`SourceUnavailable` for connection errors, HTTP 5xx and server-side SOAP faults, and
        :class:`SourceProtocolError` for answers outside the contract and for faults blaming our request.
        """
        binding_operation = self._service._binding.get(operation)
        status, content_type, body = await self._post(
            etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), binding_operation.soapaction
        )
        # SOAP 1.1 §6.2: a fault comes with HTTP 500; any other 5xx is the HTTP layer failing.
        if status == 500 and content_type == "text/xml":
            self._raise_fault_answer(body)
        if status >= 500:
            raise SourceUnavailable(f"{self._agency} answered HTTP {status}")
        if status != 200:
            raise SourceProtocolError(f"{self._agency} answered HTTP {status}")
        if content_type != "text/xml":  # SOAP 1.1 §6.1: messages travel as text/xml
            raise SourceProtocolError(f"{self._agency} answered with a non-XML content type")
        answer = parse_xml(body, max_bytes=self._settings.max_response_bytes)
        payload = self._payload(answer)
        if payload.tag != binding_operation.output.body.qname.text:
            raise SourceProtocolError(f"{self._agency} answered with an unexpected element")
        validate(self._schema, payload, f"{self._agency} answer")
        try:
            return binding_operation.output.deserialize(answer)
        except zeep.exceptions.Error as exc:
            raise SourceProtocolError(f"{self._agency} answer cannot be read against its WSDL") from exc

    async def health(self) -> bool:
        """True when the agency's ``/health`` answers 2xx."""
        return await get_ok(self._open_session(), self._health_url)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(self._settings)
        return self._session

    async def _post(self, body: bytes, soap_action: str) -> tuple[int, str, bytes]:
        limit = self._settings.max_response_bytes
        # SOAP 1.1 §6.1.1: the SOAPAction header is a quoted URI.
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action}"'}
        try:
            async with self._open_session().post(self._endpoint, data=body, headers=headers) as response:
                if response.status >= 500 and response.content_type != "text/xml":  # not a SOAP fault: unread
                    return response.status, response.content_type, b""
                return response.status, response.content_type, await read_limited(response, limit)
        except aiohttp.ClientError as exc:
            raise SourceUnavailable(f"{self._agency} connection failed: {type(exc).__name__}") from exc

    def _payload(self, envelope: etree._Element) -> etree._Element:
        """The one element in the Body of a 200 answer; a Fault there is raised as the matching SourceError."""
        if envelope.tag != f"{{{SOAP_ENV_NS}}}Envelope":
            raise SourceProtocolError(f"{self._agency} answer is not a SOAP 1.1 envelope")
        fault = envelope.find(f"{{{SOAP_ENV_NS}}}Body/{{{SOAP_ENV_NS}}}Fault")
        if fault is not None:
            self._raise_fault(fault)
        children = list(envelope.iterfind(f"{{{SOAP_ENV_NS}}}Body/*"))
        if len(children) != 1:
            raise SourceProtocolError(f"{self._agency} answer body must hold exactly one element")
        return children[0]

    def _raise_fault_answer(self, body: bytes) -> NoReturn:
        """An HTTP 500 answer: the SOAP fault it carries, or the agency is simply failing."""
        try:
            envelope = parse_xml(body, max_bytes=self._settings.max_response_bytes)
        except SourceProtocolError as exc:
            raise SourceUnavailable(f"{self._agency} failed with an unreadable error answer") from exc
        fault = envelope.find(f"{{{SOAP_ENV_NS}}}Body/{{{SOAP_ENV_NS}}}Fault")
        if envelope.tag != f"{{{SOAP_ENV_NS}}}Envelope" or fault is None:
            raise SourceUnavailable(f"{self._agency} failed without a SOAP fault")
        self._raise_fault(fault)

    def _raise_fault(self, fault: etree._Element) -> NoReturn:
        # SOAP 1.1 §4.4: faultcode is an unqualified child holding a QName such as soap:Client.
        code = (fault.findtext("faultcode") or "").strip()
        prefix, _, local = code.rpartition(":")
        namespace = fault.nsmap.get(prefix or None)
        if namespace == SOAP_ENV_NS and local.split(".", 1)[0] in _OUR_FAULT_CODES:
            raise SourceProtocolError(f"{self._agency} rejected our request (SOAP {local.split('.', 1)[0]} fault)")
        raise SourceUnavailable(f"{self._agency} answered with a SOAP fault")


class IdNumberQuery:
    """The request of the convention (``RequestHeader`` + one ``IdNumber`` per person), built once by zeep
    from the WSDL and filled in per call: the same document ``create_message`` would build, at a fraction of
    its cost (bench/agency_codec.py; tests/integration/adapters/test_civil_affairs.py compares the two)."""

    def __init__(self, soap: SoapClient, operation: str) -> None:
        header = {"RequestId": "-", "PurposeCode": "-", "RegionCode": "-"}
        self._envelope = soap.message(operation, RequestHeader=header, IdNumber=["-"])
        body = self._envelope.find(f"{{{SOAP_ENV_NS}}}Body/*")
        if body is None:  # pragma: no cover - zeep always builds a body for a document/literal operation
            raise ConfigurationError("the WSDL's request has no body element")
        self._id_number_tag = next(child.tag for child in body if etree.QName(child).localname == "IdNumber")

    def fill(self, request_id: str, purpose: str, region: str, id_numbers: list[str]) -> etree._Element:
        envelope = copy.deepcopy(self._envelope)
        body = envelope.find(f"{{{SOAP_ENV_NS}}}Body/*")
        assert body is not None
        values = {"RequestId": request_id, "PurposeCode": purpose, "RegionCode": region}
        try:
            for child in body:
                name = etree.QName(child).localname
                if name == "RequestHeader":
                    for field_element in child:
                        field_element.text = values[etree.QName(field_element).localname]
                elif name == "IdNumber":
                    position = body.index(child)
                    body.remove(child)
                    for offset, id_number in enumerate(id_numbers):
                        element = etree.Element(self._id_number_tag)
                        element.text = id_number
                        body.insert(position + offset, element)
                    break
        except ValueError as exc:  # lxml refuses control characters in text
            raise InvalidInput("the request contains characters XML cannot carry") from exc
        return envelope


class SoapAdapter(ABC):
    """An adapter for a SOAP agency following the convention above, at ``base_url`` (endpoint ``base_url + "/soap"``).

    The WSDL and XSD are ``contracts/agencies/<name>/<name>.wsdl`` and ``.xsd``. A subclass names its
    ``operation`` and the ``record_element`` of the answer holding one record per person, and maps the record
    of each person the agency knows to facts.
    """

    name: str
    categories: frozenset[str]
    operation: ClassVar[str]
    record_element: ClassVar[str]

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._soap = SoapClient(
            self.name,
            base_url,
            wsdl=contract_file(self.name, f"{self.name}.wsdl"),
            schema=contract_file(self.name, f"{self.name}.xsd"),
            settings=settings,
        )
        self._request = IdNumberQuery(self._soap, self.operation)

    async def fetch(self, query: SourceQuery) -> SourceResult:
        asked = list(dict.fromkeys(member.id_number.upper() for member in query.members))
        if not asked:
            return SourceResult(self.name, (), Provenance(self.name, query.as_of))
        request = self._request.fill(query.verification_id, query.purpose, query.region, asked)
        answer = await self._soap.send(self.operation, request)
        if answer.ResponseHeader.RequestId != query.verification_id:
            raise SourceProtocolError(f"{self.name} answered another request")
        records = records_by_id_number(getattr(answer, self.record_element), asked, self.name)
        facts: list[Fact] = []
        record_ids: list[str] = []
        for member in query.members:
            record = records[member.id_number.upper()]
            if record.Found:
                member_facts, member_record_ids = self._found_record_facts(member.index, record)
                facts.extend(member_facts)
                record_ids.extend(member_record_ids)
        provenance = Provenance(self.name, answer.ResponseHeader.DataAsOf, tuple(dict.fromkeys(record_ids)))
        return SourceResult(self.name, tuple(facts), provenance)

    async def health(self) -> bool:
        return await self._soap.health()

    async def aclose(self) -> None:
        await self._soap.aclose()

    @abstractmethod
    def _found_record_facts(self, member: int, record: Any) -> tuple[list[Fact], list[str]]:
        """The facts of the person at ``member`` whose record says ``Found``, and the record ids they come from."""
