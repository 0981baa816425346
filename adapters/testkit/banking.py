"""Simulated bank-broker service (银行业金融机构查询): one SOAP 1.1 service answering for every institution.

One operation, ``QueryFinancialAssets`` (contracts/agencies/banking/): for each identity number asked, the
person's accounts grouped by institution (bank, securities firm, insurer), each with its masked reference,
kind (DEPOSIT, SECURITIES, INSURANCE) and amount (balance, market value, cash value). A number the
population does not hold is answered with ``Found`` false; a known person without accounts has no
``InstitutionAssets``.
"""

from __future__ import annotations

import re

from aiohttp import web
from lxml import etree

from adapters.soap import contract_file
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import FinancialAsset, Population
from adapters.testkit.soap import SoapOperation, SoapService, create_soap_app, response_header

NAMESPACE = "urn:hedui:agency:banking-broker:v1"
_NS = {"bk": NAMESPACE}

_ACCOUNT_KINDS = {"deposit": "DEPOSIT", "securities": "SECURITIES", "insurance": "INSURANCE"}
_NOT_IN_ACCOUNT_REF = re.compile(r"[^A-Za-z0-9-]")


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    def query_financial_assets(request: etree._Element) -> etree._Element:
        answer = etree.Element(_q("QueryFinancialAssetsResponse"), nsmap=_NS)
        request_id = request.findtext("bk:RequestHeader/bk:RequestId", namespaces=_NS) or ""
        answer.append(response_header(NAMESPACE, request_id, population.as_of))
        for id_number in request.iterfind("bk:IdNumber", namespaces=_NS):
            answer.append(_subject_assets(population, str(id_number.text)))
        return answer

    service = SoapService(
        wsdl=contract_file("banking", "banking.wsdl"),
        schema=contract_file("banking", "banking.xsd"),
        operations={
            _q("QueryFinancialAssets"): SoapOperation(f"{NAMESPACE}/QueryFinancialAssets", query_financial_assets)
        },
    )
    return create_soap_app(service, faults)


def _mask_account_ref(account_ref: str) -> str:
    """The broker's masked form: first four and last four characters around ``****`` (short refs: last four)."""
    kept = _NOT_IN_ACCOUNT_REF.sub("", account_ref)
    return f"{kept[:4]}****{kept[-4:]}" if len(kept) > 8 else f"****{kept[-4:]}"


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


def _subject_assets(population: Population, id_number: str) -> etree._Element:
    subject = etree.Element(_q("SubjectAssets"))
    _add(subject, "IdNumber", id_number)
    person = population.person(id_number)
    _add(subject, "Found", "false" if person is None else "true")
    if person is None:
        return subject
    by_institution: dict[str, list[FinancialAsset]] = {}
    for asset in person.assets:
        by_institution.setdefault(asset.institution, []).append(asset)
    for institution, assets in by_institution.items():
        group = _add(subject, "InstitutionAssets")
        _add(group, "InstitutionCode", institution)
        for asset in assets:
            account = _add(group, "Account")
            _add(account, "AccountRef", _mask_account_ref(asset.account_ref))
            _add(account, "AccountKind", _ACCOUNT_KINDS[asset.kind])
            _add(account, "Amount", f"{asset.amount:.2f}")
    return subject
