"""Housing answers to unified facts (contracts/indicators.yaml ``facts``, source ``housing``)."""

from __future__ import annotations

from adapters.base import Fact
from adapters.housing._wire import FundResult, RealEstateResult

_FACT_BY_USAGE = {"RESIDENTIAL": "property.residential", "COMMERCIAL": "property.commercial"}


def property_facts(member: int, result: RealEstateResult) -> list[Fact]:
    """One fact per certificate. A joint home yields the same certificate for each owner; the indicator
    layer counts certificates, not facts, so it is counted once per household."""
    return [
        Fact(
            code=_FACT_BY_USAGE[holding.usage],
            member=member,
            value={"certificate": holding.certificateNo, "area_m2": holding.buildingArea, "region": holding.regionCode},
            record_id=holding.recordId,
        )
        for holding in result.properties
    ]


def fund_facts(member: int, result: FundResult) -> list[Fact]:
    """``provident_fund.balance`` for a person with an account; nothing for a person without one."""
    if result.account is None:
        return []
    return [
        Fact(
            code="provident_fund.balance",
            member=member,
            value=result.account.balance,
            record_id=result.account.recordId,
        )
    ]
