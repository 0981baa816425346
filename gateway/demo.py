"""Readable rendering of a verification report for the terminal (``hedui demo``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from gateway.contracts import vocabulary

_RELATIONS = {
    "self": "本人",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "grandchild": "孙子女",
    "grandparent": "祖父母",
    "sibling": "兄弟姐妹",
    "other": "其他",
}
_STATUS = {
    "complete": "完整 complete",
    "partial": "部分 partial",
    "ok": "正常 ok",
    "error": "错误 error",
    "timeout": "超时 timeout",
    "unavailable": "不可用 unavailable",
}
_SOURCES = {
    "hukou": "公安户籍",
    "civil_affairs": "民政",
    "tax": "税务",
    "housing": "住建/公积金",
    "banking": "银行/证券/保险",
}
_FLAGS = {
    "deceased_member": "成员已死亡仍在户",
    "split_hukou": "成员分属不同户口",
    "unregistered_member": "成员未在户籍登记",
    "duplicate_enrollment": "重复救助",
}


_RECOMMENDATIONS = {"eligible": "符合条件 eligible", "ineligible": "不符合 ineligible", "review": "需复核 review"}


def _shown(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _yes_no(value: bool | None) -> str:
    return "未知 unknown" if value is None else ("是 yes" if value else "否 no")


def print_report(console: Console, report: dict[str, Any], *, scenario: dict[str, Any] | None = None) -> None:
    console.rule("核对报告 Verification report")
    console.print(f"核对编号 verification_id  {report['verification_id']}")
    console.print(f"案件编号 case_id          {report['case_id']}")
    console.print(f"用途 purpose              {report['purpose']}   地区 region {report['region']}")
    console.print(f"状态 status               {_STATUS.get(report['status'], report['status'])}")
    console.print(f"出具时间 issued_at        {report['issued_at']}")

    members = Table(title="家庭成员 Household (as verified by household registration)")
    for column in (
        "#",
        "姓名 name",
        "关系 relation",
        "在册 registered",
        "户籍地 hukou",
        "性别 sex",
        "出生 born",
        "死亡 deceased",
        "残疾 disability",
    ):
        members.add_column(column)
    for member in report["household"]["members"]:
        members.add_row(
            str(member["index"]),
            member["name"],
            f"{_RELATIONS.get(member['relation'], member['relation'])} {member['relation']}",
            _yes_no(member["registered"]),
            member["hukou_region"] or "-",
            member["sex"] or "-",
            member["birth_date"] or "-",
            _yes_no(member["deceased"]),
            str(member["disability_grade"] or "-"),
        )
    console.print(members)

    terms = vocabulary()
    indicators = Table(title="统一指标 Indicators")
    for column in ("指标 indicator", "code", "值 value", "单位 unit"):
        indicators.add_column(column)
    for code, value in report["indicators"].items():
        term = terms.get(code)
        shown = "未知 unknown" if value is None else (f"{value:,.2f}" if isinstance(value, float) else str(value))
        indicators.add_row(term.zh if term else code, code, shown, term.unit if term else "")
    console.print(indicators)

    sources = Table(title="数据来源 Sources")
    for column in ("来源 source", "adapter", "状态 status", "耗时 latency", "证明 attested"):
        sources.add_column(column)
    for source in report["sources"]:
        sources.add_row(
            _SOURCES.get(source["adapter"], source["adapter"]),
            source["adapter"],
            _STATUS.get(source["status"], source["status"]),
            f"{source['latency_ms']} ms",
            # docs/federation.md: signed by the agency's edge node, or fetched by the hub itself.
            "机构签名 agency-signed" if source.get("attestation") else "枢纽获取 hub-fetched",
        )
    console.print(sources)
    decision = report.get("decision")
    if decision is not None:
        rules = Table(title=f"政策规则 Policy {report['policy']['id']} (version {report['policy']['version']})")
        for column in ("规则 rule", "结果 result", "值 value", "标准 threshold", "说明 explanation"):
            rules.add_column(column)
        for rule in decision["rules"]:
            result = {True: "通过 pass", False: "未通过 fail", None: "待核 review"}[rule["passed"]]
            rules.add_row(
                rule["id"], result, _shown(rule["value"]), _shown(rule["threshold"]), rule["explanation"]["zh"]
            )
        console.print(rules)
        console.print(
            f"建议 recommendation: {_RECOMMENDATIONS[decision['recommendation']]} "
            "(供工作人员参考，须人工确认 / supports staff; a person confirms)"
        )
    flags = report.get("flags") or []
    console.print("提示 flags: " + (", ".join(f"{_FLAGS.get(f, f)} {f}" for f in flags) if flags else "无 none"))
    if report.get("audit"):
        console.print(f"审计 audit: leaf {report['audit']['leaf_index']} of {report['audit']['log']}")
    if report.get("consents"):
        console.print(f"授权 consents relied on: {len(report['consents'])}")
    if scenario is not None:
        expected = scenario["expected"].get("indicators", {})
        mismatches = [code for code, value in expected.items() if report["indicators"].get(code) != value]
        verdict = "all match" if not mismatches else f"differ: {', '.join(mismatches)}"
        expected_recommendation = scenario["expected"].get("recommendation")
        console.print(
            f"场景 scenario {scenario['name']}: expected indicators {verdict}; "
            f"expected recommendation {expected_recommendation}"
        )
