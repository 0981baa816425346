"""``hedui adapters new NAME --protocol rest|soap|xml``: a new adapter package that passes the conformance
suite as generated (docs/adapters.md): the adapter with its vocabulary, a simulated agency, both entry
points, and a test that runs the suite. The agency developer then replaces the simulated protocol details
with the agency's real contract."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from gateway.errors import ConfigurationError

PROTOCOLS = ("rest", "soap", "xml")
_NAME = re.compile(r"[a-z][a-z0-9_]{1,30}")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "hedui-adapter-$dashed"
version = "0.1.0"
description = "Hedui adapter for the $name agency ($protocol)"
requires-python = ">=3.11"
dependencies = ["hedui"]

[project.entry-points."hedui.adapters"]
$name = "hedui_$name:${klass}Adapter"

[project.entry-points."hedui.simulated_agencies"]
$name = "hedui_$name.agency:simulated_agency"

[tool.setuptools]
packages = ["hedui_$name"]
"""

_VOCABULARY = """
QUERY_PATH = "/api/v1/$name/query"
_AMOUNT = PluginTerm("$name.amount", "$name 金额", "$name amount", "yuan", "point")
VOCABULARY = PluginVocabulary(
    category="$name",
    facts=(_AMOUNT,),
    indicators=(
        PluginIndicator(PluginTerm("${name}_total", "$name 合计", "$name total", "yuan", "point"), _AMOUNT.code, "sum"),
    ),
    purposes=("dibao.application",),
)
"""

_REST_ADAPTER = '''"""Adapter for the $name agency: REST/JSON, the batch-query convention of ``adapters.rest``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.rest import AgencyAnswer, BatchQuery, JsonAgencyClient, RecordId, SeqResult
from gateway.errors import SourceProtocolError
from gateway.plugins import PluginIndicator, PluginTerm, PluginVocabulary
$vocabulary

class PersonResult(SeqResult):
    idNumber: str = Field(pattern=r"^[1-9][0-9]{16}[0-9X]$$")  # who the record is about
    found: bool
    recordId: RecordId | None = None
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class Answer(AgencyAnswer[PersonResult]):
    """One result per person asked."""


class ${klass}Adapter:
    name = "$name"
    categories = frozenset({"$name"})
    vocabulary: ClassVar[PluginVocabulary] = VOCABULARY

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._client = JsonAgencyClient(base_url, settings or AdapterSettings())

    async def fetch(self, query: SourceQuery) -> SourceResult:
        answer = await self._client.query(QUERY_PATH, BatchQuery.for_members(query), Answer)
        facts = []
        for member in query.members:
            result = answer.by_seq[member.index]
            if result.idNumber != member.id_number.upper():  # the wrong-person check
                raise SourceProtocolError(f"the record for member {member.index} names another person")
            if result.found and result.amount is not None:
                facts.append(Fact(_AMOUNT.code, member.index, result.amount, record_id=result.recordId))
        record_ids = tuple(f.record_id for f in facts if f.record_id is not None)
        return SourceResult(self.name, tuple(facts), Provenance(self.name, answer.as_of, record_ids))

    async def health(self) -> bool:
        return await self._client.health()

    async def aclose(self) -> None:
        await self._client.aclose()
'''

_REST_AGENCY = '''"""The simulated $name agency: deterministic records, the REST convention of ``adapters.rest``."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from adapters.rest import create_batch_query_app
from adapters.testkit.population import Population
from hedui_$name import QUERY_PATH


def record_for(id_number: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"$name:{id_number}".encode("ascii")).digest()
    if digest[0] % 4 == 0:
        return {"idNumber": id_number, "found": False}
    amount = float(int.from_bytes(digest[1:3], "big") % 10000)
    return {"idNumber": id_number, "found": True, "recordId": f"R-{digest[3:9].hex()}", "amount": amount}


def simulated_agency(population: Population) -> web.Application:
    return create_batch_query_app(population.as_of, {QUERY_PATH: record_for}, middlewares=())
'''

_XML_ADAPTER = '''"""Adapter for the $name agency: $title over HTTP (``<Query>`` in, ``<Answer>`` out)."""

from __future__ import annotations

import re
from datetime import date
from typing import ClassVar

import aiohttp
from lxml import etree

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.http import get_ok, new_session, post_bytes
from adapters.xmlsafe import parse_xml
from gateway.errors import SourceProtocolError
from gateway.plugins import PluginIndicator, PluginTerm, PluginVocabulary
$vocabulary
SOAP = $soap
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_AMOUNT_TEXT = re.compile(r"[0-9]{1,12}(\\\\.[0-9]{1,2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def query_document(query: SourceQuery) -> bytes:
    """The request: only the identity numbers, by position."""
    root = etree.Element("Query", verificationId=query.verification_id, purpose=query.purpose)
    for member in query.members:
        etree.SubElement(root, "Person", seq=str(member.index), idNumber=member.id_number)
    if SOAP:
        envelope = etree.Element(f"{{{SOAP_NS}}}Envelope")
        etree.SubElement(envelope, f"{{{SOAP_NS}}}Body").append(root)
        root = envelope
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def answer_element(document: etree._Element) -> etree._Element:
    if not SOAP:
        return document
    body = document.find(f"{{{SOAP_NS}}}Body")
    answer = body[0] if body is not None and len(body) else None
    if answer is None:
        raise SourceProtocolError("the SOAP envelope carries no answer")
    return answer


class ${klass}Adapter:
    name = "$name"
    categories = frozenset({"$name"})
    vocabulary: ClassVar[PluginVocabulary] = VOCABULARY

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._url = base_url.rstrip("/")
        self._settings = settings or AdapterSettings()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session(self._settings)
        return self._session

    async def fetch(self, query: SourceQuery) -> SourceResult:
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if SOAP:
            headers["SOAPAction"] = '"urn:hedui:agency:$name:v1#Query"'
        status, _, body = await post_bytes(
            self._open(),
            self._url + QUERY_PATH,
            query_document(query),
            headers,
            max_bytes=self._settings.max_response_bytes,
        )
        if status != 200:
            raise SourceProtocolError(f"the agency answered HTTP {status}")
        answer = answer_element(parse_xml(body, max_bytes=self._settings.max_response_bytes))
        as_of = answer.get("asOf") or ""
        if answer.tag != "Answer" or not _DATE.fullmatch(as_of):
            raise SourceProtocolError("the answer is not an <Answer asOf=...>")
        people = {person.get("seq"): person for person in answer.iter("Person")}
        facts = []
        for member in query.members:
            person = people.get(str(member.index))
            if person is None or person.get("idNumber") != member.id_number.upper():  # the wrong-person check
                raise SourceProtocolError(f"no record naming member {member.index}'s number")
            amount = person.get("amount")
            if amount is None:
                continue
            if not _AMOUNT_TEXT.fullmatch(amount):
                raise SourceProtocolError(f"member {member.index}: amount is not a decimal")
            facts.append(Fact(_AMOUNT.code, member.index, float(amount), record_id=person.get("recordId")))
        record_ids = tuple(f.record_id for f in facts if f.record_id is not None)
        return SourceResult(self.name, tuple(facts), Provenance(self.name, date.fromisoformat(as_of), record_ids))

    async def health(self) -> bool:
        return await get_ok(self._open(), self._url + "/health")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
'''

_XML_AGENCY = '''"""The simulated $name agency: $title over HTTP, deterministic records."""

from __future__ import annotations

import hashlib

from aiohttp import web
from lxml import etree

from adapters.testkit.population import Population
from adapters.xmlsafe import parse_xml
from hedui_$name import QUERY_PATH, SOAP, SOAP_NS


def person_element(seq: str, id_number: str) -> etree._Element:
    digest = hashlib.sha256(f"$name:{id_number}".encode("ascii")).digest()
    person = etree.Element("Person", seq=seq, idNumber=id_number)
    if digest[0] % 4:
        person.set("amount", str(int.from_bytes(digest[1:3], "big") % 10000))
        person.set("recordId", f"R-{digest[3:9].hex()}")
    return person


def simulated_agency(population: Population) -> web.Application:
    async def query(request: web.Request) -> web.Response:
        document = parse_xml(await request.read())
        if SOAP:
            document = document.find(f"{{{SOAP_NS}}}Body")[0]
        answer = etree.Element("Answer", asOf=population.as_of.isoformat())
        for person in document.iter("Person"):
            answer.append(person_element(person.get("seq", ""), person.get("idNumber", "")))
        if SOAP:
            envelope = etree.Element(f"{{{SOAP_NS}}}Envelope")
            etree.SubElement(envelope, f"{{{SOAP_NS}}}Body").append(answer)
            answer = envelope
        body = etree.tostring(answer, xml_declaration=True, encoding="UTF-8")
        return web.Response(body=body, content_type="text/xml")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(QUERY_PATH, query)
    app.router.add_get("/health", health)
    return app
'''

_TEST = '''"""The conformance suite against this adapter and its simulated agency (`hedui adapters test $name`)."""

from adapters.testkit.conformance import run_conformance


async def test_the_adapter_conforms() -> None:
    failed = {c.name: c.detail for c in await run_conformance("$name") if not c.passed}
    assert failed == {}
'''

_README = """# hedui-adapter-$dashed

A Hedui adapter for the $name agency ($protocol), generated by `hedui adapters new`. See the project's
docs/adapters.md: replace the simulated protocol in `hedui_$name/agency.py` and the wire handling in
`hedui_$name/__init__.py` with the agency's contract, declare its facts and indicators in `VOCABULARY`,
then `pip install -e .` and `hedui adapters test $name`.
"""


def scaffold(name: str, protocol: str, out: Path) -> Path:
    """Write the package ``hedui-adapter-<name>`` under ``out``; refuses a bad name or an existing directory."""
    if not _NAME.fullmatch(name):
        raise ConfigurationError("an adapter name is 2 to 31 lowercase letters, digits and _, from a letter")
    if protocol not in PROTOCOLS:
        raise ConfigurationError(f"the protocol is one of {', '.join(PROTOCOLS)}")
    root = out / f"hedui-adapter-{name.replace('_', '-')}"
    if root.exists():
        raise ConfigurationError(f"{root} exists; refusing to overwrite it")
    values = {
        "name": name,
        "dashed": name.replace("_", "-"),
        "klass": "".join(part.title() for part in name.split("_")),
        "protocol": protocol,
        "title": {"rest": "REST/JSON", "soap": "SOAP 1.1", "xml": "XML"}[protocol],
        "soap": str(protocol == "soap"),
    }
    values["vocabulary"] = Template(_VOCABULARY).substitute(values)
    adapter, agency = (_REST_ADAPTER, _REST_AGENCY) if protocol == "rest" else (_XML_ADAPTER, _XML_AGENCY)
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"hedui_{name}/__init__.py": adapter,
        f"hedui_{name}/agency.py": agency,
        f"tests/test_{name}.py": _TEST,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")
    return root
