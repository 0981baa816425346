"""The bank-broker adapter: one ``QueryFinancialAssets`` SOAP call per verification, summed per asset kind.

For each person the broker knows (``Found`` true; an unknown person yields no facts) the adapter emits three
facts, ``assets.deposits``, ``assets.securities`` and ``assets.insurance_cash_value``: the sum over every
institution and account of that kind, 0 when the person holds none. A fact's ``record_id`` lists the
accounts summed, as ``INSTITUTION/masked-ref`` joined by ``;`` (None for a zero sum without accounts).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.base import Fact
from adapters.soap import SoapAdapter, amount_value

# Broker account kind -> fact code (contracts/indicators.yaml), in the order facts are emitted.
_FACT_CODES = {
    "DEPOSIT": "assets.deposits",
    "SECURITIES": "assets.securities",
    "INSURANCE": "assets.insurance_cash_value",
}


class BankingAdapter(SoapAdapter):
    """Adapter for the bank-broker SOAP service at ``base_url`` (the endpoint is ``base_url + "/soap"``)."""

    name = "banking"
    categories = frozenset({"banking"})
    operation = "QueryFinancialAssets"
    record_element = "SubjectAssets"

    def _found_record_facts(self, member: int, record: Any) -> tuple[list[Fact], list[str]]:
        return _member_facts(member, record)


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
