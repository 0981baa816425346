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

from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import FinancialAsset, Population
from adapters.testkit.soap import AgencyNamespace, create_id_number_query_app

NAMESPACE = "urn:hedui:agency:banking-broker:v1"
_BK = AgencyNamespace(NAMESPACE, "bk")

_ACCOUNT_KINDS = {"deposit": "DEPOSIT", "securities": "SECURITIES", "insurance": "INSURANCE"}
_NOT_IN_ACCOUNT_REF = re.compile(r"[^A-Za-z0-9-]")


def create_app(population: Population, faults: FaultInjector) -> web.Application:
    return create_id_number_query_app("banking", _BK, "QueryFinancialAssets", _subject_assets, population, faults)


def _mask_account_ref(account_ref: str) -> str:
    """The broker's masked form: first four and last four characters around ``****`` (short refs: last four)."""
    kept = _NOT_IN_ACCOUNT_REF.sub("", account_ref)
    return f"{kept[:4]}****{kept[-4:]}" if len(kept) > 8 else f"****{kept[-4:]}"


def _subject_assets(population: Population, id_number: str) -> etree._Element:
    subject = etree.Element(_BK.qname("SubjectAssets"))
    _BK.add(subject, "IdNumber", id_number)
    person = population.person(id_number)
    _BK.add(subject, "Found", "false" if person is None else "true")
    if person is None:
        return subject
    by_institution: dict[str, list[FinancialAsset]] = {}
    for asset in person.assets:
        by_institution.setdefault(asset.institution, []).append(asset)
    for institution, assets in by_institution.items():
        group = _BK.add(subject, "InstitutionAssets")
        _BK.add(group, "InstitutionCode", institution)
        for asset in assets:
            account = _BK.add(group, "Account")
            _BK.add(account, "AccountRef", _mask_account_ref(asset.account_ref))
            _BK.add(account, "AccountKind", _ACCOUNT_KINDS[asset.kind])
            _BK.add(account, "Amount", f"{asset.amount:.2f}")
    return subject
