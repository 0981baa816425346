"""The JSON shapes of the housing answers (contracts/agencies/housing/openapi.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from adapters.rest import AgencyAnswer, RecordId, SeqResult, WireModel

REAL_ESTATE_PATH = "/api/v1/real-estate/query"
PROVIDENT_FUND_PATH = "/api/v1/provident-fund/query"


class Holding(WireModel):
    """One property right registered to the person (不动产登记簿), identified by its certificate.

    A jointly owned home (共同共有) is answered, with the same certificate and record id, for every owner.
    """

    recordId: RecordId
    certificateNo: str = Field(min_length=1, max_length=64)  # 不动产权证号
    usage: Literal["RESIDENTIAL", "COMMERCIAL"]  # 房屋用途: 住宅 / 商业服务
    buildingArea: float = Field(gt=0, allow_inf_nan=False)  # 建筑面积, m²
    regionCode: str = Field(pattern=r"^[0-9]{6}$")  # GB/T 2260 region of the property
    ownership: Literal["SOLE", "JOINT", "SHARED"]  # 单独所有 / 共同共有 / 按份共有


class RealEstateResult(SeqResult):
    properties: list[Holding] = Field(max_length=100)


class RealEstateAnswer(AgencyAnswer[RealEstateResult]):
    """Answer of the real-estate query: every property held by each person (none is an empty list)."""


class FundAccount(WireModel):
    recordId: RecordId
    balance: int | float = Field(ge=0, allow_inf_nan=False)  # 账户余额, yuan


class FundResult(SeqResult):
    found: bool
    account: FundAccount | None = None

    @model_validator(mode="after")
    def _account_iff_found(self) -> FundResult:
        if self.found != (self.account is not None):
            raise ValueError("account is present exactly when found is true")
        return self


class FundAnswer(AgencyAnswer[FundResult]):
    """Answer of the provident-fund query: each person's account, if they have one (住房公积金个人账户)."""
