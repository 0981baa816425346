"""The shared SOAP client: contracts load only from local files, and the small helpers the adapters share."""

from __future__ import annotations

import shutil
import socket
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import zeep.exceptions
from lxml import etree

from adapters.soap import IdNumberQuery, SoapClient, amount_value, contract_file, records_by_id_number
from gateway.errors import ConfigurationError, SourceProtocolError

_WSDL = contract_file("civil_affairs", "civil_affairs.wsdl")
_XSD = contract_file("civil_affairs", "civil_affairs.xsd")


def _contract_copy(directory: Path, schema_location: str, prologue: str = "") -> Path:
    """The civil-affairs WSDL in ``directory``, importing its types from ``schema_location``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(_XSD, directory / _XSD.name)
    text = _WSDL.read_text(encoding="utf-8").replace(
        f'schemaLocation="{_XSD.name}"', f'schemaLocation="{schema_location}"'
    )
    wsdl = directory / _WSDL.name
    wsdl.write_text(text.replace("?>", "?>" + prologue, 1), encoding="utf-8")
    return wsdl


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unmodified_copy_loads(tmp_path: Path) -> None:
    # The control for the refusals below: the copy itself is a loadable contract.
    SoapClient("civil_affairs", "http://127.0.0.1:1", _contract_copy(tmp_path, _XSD.name), _XSD)


def test_imports_over_http_are_refused_without_a_fetch(tmp_path: Path) -> None:
    # Nothing listens on the port: had zeep tried to fetch, the error would be a connection error instead.
    wsdl = _contract_copy(tmp_path, f"http://127.0.0.1:{_closed_port()}/types.xsd")

    with pytest.raises(ConfigurationError) as raised:
        SoapClient("civil_affairs", "http://127.0.0.1:1", wsdl, _XSD)

    assert isinstance(raised.value.__cause__, zeep.exceptions.ExternalReferenceForbidden)


@pytest.mark.parametrize("location", ["../elsewhere/civil_affairs.xsd", "file:///etc/hostname"])
def test_files_outside_the_contract_directory_are_refused(tmp_path: Path, location: str) -> None:
    _contract_copy(tmp_path / "elsewhere", _XSD.name)
    wsdl = _contract_copy(tmp_path / "contract", location)

    with pytest.raises(ConfigurationError):
        SoapClient("civil_affairs", "http://127.0.0.1:1", wsdl, _XSD)


def test_a_wsdl_with_a_dtd_is_refused(tmp_path: Path) -> None:
    wsdl = _contract_copy(tmp_path, _XSD.name, prologue='<!DOCTYPE d [<!ENTITY e "x">]>')

    with pytest.raises(ConfigurationError) as raised:
        SoapClient("civil_affairs", "http://127.0.0.1:1", wsdl, _XSD)

    assert isinstance(raised.value.__cause__, zeep.exceptions.DTDForbidden)


@pytest.mark.parametrize(
    ("amount", "expected", "kind"),
    [
        (Decimal("788.00"), 788, int),
        (Decimal("0"), 0, int),
        (Decimal("1234.56"), 1234.56, float),
        (Decimal("0.10"), 0.1, float),
    ],
)
def test_amount_value(amount: Decimal, expected: float, kind: type) -> None:
    value = amount_value(amount)

    assert value == expected
    assert type(value) is kind


def _record(id_number: str) -> SimpleNamespace:
    return SimpleNamespace(IdNumber=id_number)


def test_records_are_indexed_by_identity_number() -> None:
    first, second = _record("A"), _record("B")

    assert records_by_id_number([second, first], ["A", "B"], "agency") == {"A": first, "B": second}


@pytest.mark.parametrize(
    "records",
    [
        pytest.param([_record("A")], id="missing"),
        pytest.param([_record("A"), _record("B"), _record("C")], id="not-asked"),
        pytest.param([_record("A"), _record("A")], id="duplicate"),
    ],
)
def test_records_must_answer_exactly_what_was_asked(records: list[SimpleNamespace]) -> None:
    with pytest.raises(SourceProtocolError):
        records_by_id_number(records, ["A", "B"], "agency")


@pytest.mark.parametrize(
    ("agency", "operation"), [("civil_affairs", "QueryPersons"), ("banking", "QueryFinancialAssets")]
)
@pytest.mark.parametrize("persons", [1, 3])
def test_the_filled_template_is_the_request_zeep_builds(agency: str, operation: str, persons: int) -> None:
    soap = SoapClient(
        agency, "http://127.0.0.1:9", contract_file(agency, f"{agency}.wsdl"), contract_file(agency, f"{agency}.xsd")
    )
    numbers = ["11010519491231002X", "110101198001010010", "110101199909090094"][:persons]
    header = {"RequestId": "v-1", "PurposeCode": "dibao.application", "RegionCode": "110101"}
    template = IdNumberQuery(soap, operation)
    filled = template.fill("v-1", "dibao.application", "110101", numbers)
    assert etree.tostring(filled) == etree.tostring(soap.message(operation, RequestHeader=header, IdNumber=numbers))
    again = template.fill("v-2", "dibao.review", "510502", numbers[:1])
    assert b"v-1" not in etree.tostring(again), "each call fills a fresh copy"
