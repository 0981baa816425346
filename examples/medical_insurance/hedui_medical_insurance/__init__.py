"""Adapter for the medical-insurance agency (医疗保障局, 医保): a worked example of a plugin that brings its
own category, facts and indicators (docs/adapters.md).

The agency follows the REST batch-query convention of ``adapters.rest``: ``POST /api/v1/medical/query``
with the members' identity numbers only, one result per ``seq``: the person's medical spending and the
reimbursements over the 12 months before the as-of date, and whether a chronic or a serious illness
(慢性病 / 重特大疾病) is on record. The hub derives household indicators from these facts; the dibao and
low-income purposes may request the ``medical_insurance`` category (the 2024 rules count medical spending
as 刚性支出).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from adapters.base import AdapterSettings, Fact, Provenance, SourceQuery, SourceResult
from adapters.rest import AgencyAnswer, BatchQuery, JsonAgencyClient, RecordId, SeqResult, WireModel
from gateway.errors import SourceProtocolError
from gateway.plugins import PluginIndicator, PluginTerm, PluginVocabulary

__all__ = ["MEDICAL_PATH", "VOCABULARY", "MedicalInsuranceAdapter"]

MEDICAL_PATH = "/api/v1/medical/query"

_SPENDING = PluginTerm(
    "medical.spending_12m", "近12个月医疗总费用", "Medical spending, last 12 months", "yuan", "12 months"
)
_REIMBURSED = PluginTerm(
    "medical.reimbursed_12m", "近12个月医保报销", "Reimbursed by insurance, 12 months", "yuan", "12 months"
)
_CHRONIC = PluginTerm("medical.chronic_illness", "慢性病登记", "Chronic illness on record", "bool", "point")
_SERIOUS = PluginTerm("medical.serious_illness", "重特大疾病", "Serious illness on record", "bool", "point")

VOCABULARY = PluginVocabulary(
    category="medical_insurance",
    facts=(_SPENDING, _REIMBURSED, _CHRONIC, _SERIOUS),
    indicators=(
        PluginIndicator(
            PluginTerm(
                "medical_spending_12m",
                "近12个月家庭医疗总费用",
                "Household medical spending, 12 months",
                "yuan",
                "12 months",
            ),
            fact=_SPENDING.code,
            aggregate="sum",
        ),
        PluginIndicator(
            PluginTerm(
                "medical_reimbursed_12m",
                "近12个月家庭医保报销",
                "Household reimbursements, 12 months",
                "yuan",
                "12 months",
            ),
            fact=_REIMBURSED.code,
            aggregate="sum",
        ),
        PluginIndicator(
            PluginTerm("chronic_illness_members", "慢性病成员数", "Members with a chronic illness", "count", "point"),
            fact=_CHRONIC.code,
            aggregate="count_true",
        ),
        PluginIndicator(
            PluginTerm(
                "serious_illness_members", "重特大疾病成员数", "Members with a serious illness", "count", "point"
            ),
            fact=_SERIOUS.code,
            aggregate="count_true",
        ),
    ),
    purposes=(
        "dibao.application",
        "dibao.residence_application",
        "dibao.review",
        "marginal.application",
        "rigid_expenditure.application",
    ),
)


class MedicalRecord(WireModel):
    recordId: RecordId
    spending12m: float = Field(ge=0, allow_inf_nan=False)  # 医疗总费用, yuan
    reimbursed12m: float = Field(ge=0, allow_inf_nan=False)  # 统筹基金及大病保险支付, yuan
    chronicIllness: bool
    seriousIllness: bool


class MedicalResult(SeqResult):
    idNumber: str = Field(pattern=r"^[1-9][0-9]{16}[0-9X]$")  # the person this record is about
    insured: bool
    record: MedicalRecord | None = None


class MedicalAnswer(AgencyAnswer[MedicalResult]):
    """One result per person asked: whether insured, and the 12-month record if so."""


class MedicalInsuranceAdapter:
    """Implements :class:`adapters.base.Adapter` for the medical-insurance REST service."""

    name = "medical_insurance"
    categories = frozenset({"medical_insurance"})
    vocabulary: ClassVar[PluginVocabulary] = VOCABULARY

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._client = JsonAgencyClient(base_url, settings or AdapterSettings())

    async def fetch(self, query: SourceQuery) -> SourceResult:
        answer = await self._client.query(MEDICAL_PATH, BatchQuery.for_members(query), MedicalAnswer)
        facts: list[Fact] = []
        for member in query.members:
            result = answer.by_seq[member.index]
            # The wrong-person check: a record about another number than the one asked is never used.
            if result.idNumber != member.id_number.upper():
                raise SourceProtocolError(f"the record for member {member.index} names another person")
            record = result.record
            if record is None:
                continue
            facts += [
                Fact(_SPENDING.code, member.index, record.spending12m, record_id=record.recordId),
                Fact(_REIMBURSED.code, member.index, record.reimbursed12m, record_id=record.recordId),
                Fact(_CHRONIC.code, member.index, record.chronicIllness, record_id=record.recordId),
                Fact(_SERIOUS.code, member.index, record.seriousIllness, record_id=record.recordId),
            ]
        record_ids = tuple(dict.fromkeys(f.record_id for f in facts if f.record_id is not None))
        return SourceResult(
            adapter=self.name,
            facts=tuple(facts),
            provenance=Provenance(agency=self.name, as_of=answer.as_of, record_ids=record_ids),
        )

    async def health(self) -> bool:
        return await self._client.health()

    async def aclose(self) -> None:
        await self._client.aclose()
