"""Public-security answers to unified facts (contracts/indicators.yaml ``facts``, source ``hukou``)."""

from __future__ import annotations

from adapters.base import Fact
from adapters.hukou._wire import RegisterResult, VehicleResult

# GB/T 4761-2008 家庭关系代码: the first digit of the two-digit code is the one-digit group
# (0 本人或户主, 1 配偶, 2 子, 3 女, 4 孙辈, 5 父母, 6 祖父母, 7 兄弟姐妹, 8 其他, 9 其他亲属/非亲属).
# Group 2 and 3 include 女婿 (28) and 儿媳 (38): on the register they count as the head's children.
_RELATION_BY_GROUP = {
    "0": "self",
    "1": "spouse",
    "2": "child",
    "3": "child",
    "4": "grandchild",
    "5": "parent",
    "6": "grandparent",
    "7": "sibling",
    "8": "other",
    "9": "other",
}
# GB/T 2261.1-2003 人的性别代码: 1 男, 2 女; 0 未知 and 9 未说明 give no person.sex fact.
_SEX_BY_CODE = {"1": "M", "2": "F"}


def register_facts(member: int, result: RegisterResult) -> list[Fact]:
    """Facts from one household-register result.

    A person the register does not know, or whose entry is cancelled, is ``person.registered`` False. A
    registered death is not the register's business here: such a person stays registered until the entry
    is cancelled (civil affairs reports the death).
    """
    record = result.person
    if record is None:
        return [Fact(code="person.registered", member=member, value=False)]
    record_id = record.recordId
    facts = [
        Fact(
            code="person.registered",
            member=member,
            value=record.registerStatus == "NORMAL",
            record_id=record_id,
        )
    ]
    if record.hukouId is not None and record.hukouRegion is not None and record.relationCode is not None:
        facts += [
            Fact(code="person.hukou_id", member=member, value=record.hukouId, record_id=record_id),
            Fact(code="person.hukou_region", member=member, value=record.hukouRegion, record_id=record_id),
            Fact(
                code="person.register_relation",
                member=member,
                value=_RELATION_BY_GROUP[record.relationCode[0]],
                record_id=record_id,
            ),
        ]
    sex = _SEX_BY_CODE.get(record.sexCode)
    if sex is not None:
        facts.append(Fact(code="person.sex", member=member, value=sex, record_id=record_id))
    facts.append(Fact(code="person.birth_date", member=member, value=record.birthDate.isoformat(), record_id=record_id))
    return facts


def vehicle_facts(member: int, result: VehicleResult) -> list[Fact]:
    """``vehicle.count`` and ``vehicle.value`` (sum of assessed values), also when the person has none."""
    return [
        Fact(code="vehicle.count", member=member, value=len(result.vehicles)),
        Fact(code="vehicle.value", member=member, value=sum(vehicle.assessedValue for vehicle in result.vehicles)),
    ]
