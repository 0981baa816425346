"""The bank-broker adapter: one ``QueryFinancialAssets`` SOAP call per verification, summed per asset kind.

For each person the broker knows (``Found`` true; an unknown person yields no facts) the adapter emits three
facts, ``assets.deposits``, ``assets.securities`` and ``assets.insurance_cash_value``: the sum over every
institution and account of that kind, 0 when the person holds none. A fact's ``record_id`` lists the
accounts summed, as ``INSTITUTION/masked-ref`` joined by ``;`` (None for a zero sum without accounts).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.soap import SoapClient, amount_value, contract_file, records_by_id_number
from gateway.errors import SourceProtocolError

# Broker account kind -> fact code (contracts/indicators.yaml), in the order facts are emitted.
_FACT_CODES = {
    "DEPOSIT": "assets.deposits",
    "SECURITIES": "assets.securities",
    "INSURANCE": "assets.insurance_cash_value",
}


class BankingAdapter:
    """Adapter for the bank-broker SOAP service at ``base_url`` (the endpoint is ``base_url + "/soap"``)."""

    name = "banking"
    categories = frozenset({"banking"})

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._soap = SoapClient(
            self.name,
            base_url,
            wsdl=contract_file("banking", "banking.wsdl"),
            schema=contract_file("banking", "banking.xsd"),
            settings=settings,
        )

    async def fetch(self, query: SourceQuery) -> SourceResult:
        asked = list(dict.fromkeys(member.id_number.upper() for member in query.members))
        if not asked:
            return SourceResult(self.name, (), Provenance(self.name, query.as_of))
        answer = await self._soap.call(
            "QueryFinancialAssets",
            RequestHeader={
                "RequestId": query.verification_id,
                "PurposeCode": query.purpose,
                "RegionCode": query.region,
            },
            IdNumber=asked,
        )
        if answer.ResponseHeader.RequestId != query.verification_id:
            raise SourceProtocolError(f"{self.name} answered another request")
        subjects = records_by_id_number(answer.SubjectAssets, asked, self.name)
        facts: list[Fact] = []
        accounts: list[str] = []
        for member in query.members:
            subject = subjects[member.id_number.upper()]
            if subject.Found:
                member_facts, member_accounts = _member_facts(member.index, subject)
                facts.extend(member_facts)
                accounts.extend(member_accounts)
        record_ids = tuple(dict.fromkeys(accounts))
        return SourceResult(self.name, tuple(facts), Provenance(self.name, answer.ResponseHeader.DataAsOf, record_ids))

    async def health(self) -> bool:
        return await self._soap.health()

    async def aclose(self) -> None:
        await self._soap.aclose()


def _member_facts(member: int, subject: Any) -> tuple[list[Fact], list[str]]:
    """The three asset facts of one person, and every account reference they sum."""
    totals = {kind: Decimal(0) for kind in _FACT_CODES}
    references: dict[str, list[str]] = {kind: [] for kind in _FACT_CODES}
    for institution in subject.InstitutionAssets:
        for account in institution.Account:
            totals[account.AccountKind] += account.Amount
            references[account.AccountKind].append(f"{institution.InstitutionCode}/{account.AccountRef}")
    facts = [
        Fact(code, member, amount_value(totals[kind]), record_id=";".join(references[kind]) or None)
        for kind, code in _FACT_CODES.items()
    ]
    return facts, [reference for kind in _FACT_CODES for reference in references[kind]]
