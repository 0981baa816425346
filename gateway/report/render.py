"""The 核对报告 as PDF (fpdf2; docs/decisions.md says why): case, household, indicators with their sources,
rule results and explanations, the recommendation with the human-confirmation note, policy version, audit
leaf, and the seal as a QR code (segno, drawn as vector squares). Chinese text is set in Noto Sans CJK SC,
embedded and subset (Debian's fonts-noto-cjk; ``HEDUI_REPORT_FONT`` names another font file)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from gateway.contracts import vocabulary
from gateway.errors import ConfigurationError

_FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/noto-cjk"))
_SC_IN_COLLECTION = 2  # Noto Sans CJK collections: JP, KR, SC, TC, HK
FONT = "cjk"

_RELATIONS = {
    "self": "本人",
    "spouse": "配偶",
    "child": "子女",
    "parent": "父母",
    "sibling": "兄弟姐妹",
    "grandchild": "孙子女",
    "grandparent": "祖父母",
    "other": "其他",
}
_RECOMMENDATIONS = {"eligible": "建议认定", "ineligible": "建议不予认定", "review": "建议人工复核"}
_STATUS = {
    "complete": "完整",
    "partial": "部分（有部门未答复）",
    "ok": "正常",
    "error": "错误",
    "timeout": "超时",
    "unavailable": "不可用",
}
_PURPOSES = {
    "dibao.application": "最低生活保障申请",
    "dibao.review": "最低生活保障复核",
    "tekun.application": "特困供养申请",
    "temporary.assistance": "临时救助",
}
HUMAN_NOTE = (
    "本报告中的建议由系统根据核对结果和政策规则自动生成，仅供参考；是否给予救助须经工作人员审核确认，并依法作出决定。"
)


@cache
def _font_files() -> tuple[str, str, int]:
    configured = os.environ.get("HEDUI_REPORT_FONT")
    if configured:
        return configured, configured, 0
    for directory in _FONT_DIRS:
        regular, bold = directory / "NotoSansCJK-Regular.ttc", directory / "NotoSansCJK-Bold.ttc"
        if regular.exists():
            return str(regular), str(bold if bold.exists() else regular), _SC_IN_COLLECTION
    raise ConfigurationError("no CJK font for reports: install fonts-noto-cjk or set HEDUI_REPORT_FONT")


class _Report(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(100)
        self.cell(0, 6, f"核对报告 · 第 {self.page_no()} 页 / 共 {{nb}} 页", align="C")


def render_report(report: Mapping[str, Any], seal: str) -> bytes:
    regular, bold, number = _font_files()
    pdf = _Report(format="A4")
    pdf.set_title("核对报告")
    pdf.set_creator("Hedui (核对)")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font(FONT, "", regular, collection_font_number=number)
    pdf.add_font(FONT, "B", bold, collection_font_number=number)
    pdf.add_page()
    _header(pdf, report, seal)
    _household(pdf, report)
    _indicators(pdf, report)
    _sources(pdf, report)
    _decision(pdf, report)
    _provenance(pdf, report)
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, "B", 12)
    pdf.set_fill_color(230, 236, 245)
    pdf.cell(0, 8, text, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9.5)
    pdf.ln(1)


def _table(pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int]) -> None:
    pdf.set_font(FONT, size=9)
    with pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=5.5, first_row_as_headings=True) as table:
        table.row([str(cell) for cell in header])
        for values in rows:
            table.row(["" if value is None else str(value) for value in values])
    pdf.set_font(FONT, size=9.5)


def _header(pdf: FPDF, report: Mapping[str, Any], seal: str) -> None:
    pdf.set_font(FONT, "B", 20)
    pdf.cell(0, 12, "社会救助家庭经济状况核对报告", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9.5)
    top = pdf.get_y()
    facts = [
        ("核对编号", report.get("verification_id")),
        ("案件编号", report.get("case_id")),
        ("核对用途", _PURPOSES.get(str(report.get("purpose")), report.get("purpose"))),
        ("行政区划", report.get("region")),
        ("核对状态", _STATUS.get(str(report.get("status")), report.get("status"))),
        ("出具时间", f"{report.get('issued_at')} (UTC)"),
    ]
    for label, value in facts:
        pdf.set_font(FONT, "B", 9.5)
        pdf.cell(24, 6.5, label)
        pdf.set_font(FONT, size=9.5)
        pdf.cell(100, 6.5, str(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _qr(pdf, seal, x=pdf.w - 15 - 42, y=top - 2, size=42)
    pdf.set_xy(pdf.w - 15 - 48, top + 41)
    pdf.set_font(FONT, size=7)
    pdf.cell(54, 4, "扫码核验：hedui report verify --qr", align="C")
    pdf.set_xy(15, max(pdf.get_y() + 6, top + 46))


def _qr(pdf: FPDF, text: str, *, x: float, y: float, size: float) -> None:
    code = segno.make(text, error="m", micro=False)
    rows = list(code.matrix_iter(scale=1, border=2))
    module = size / len(rows)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                pdf.rect(x + c * module, y + r * module, module, module, style="F")


def _household(pdf: FPDF, report: Mapping[str, Any]) -> None:
    _heading(pdf, "一、家庭成员")
    members = report.get("household", {}).get("members", [])
    rows = [
        (
            m.get("index", i) + 1 if isinstance(m.get("index"), int) else i + 1,
            m.get("name"),
            _RELATIONS.get(str(m.get("relation")), m.get("relation")),
            {"M": "男", "F": "女"}.get(str(m.get("sex")), ""),
            m.get("birth_date") or "",
            "是" if m.get("registered") else "否",
            f"{m['disability_grade']} 级" if m.get("disability_grade") else "",
            "已登记死亡" if m.get("deceased") else "",
        )
        for i, m in enumerate(members)
    ]
    _table(
        pdf,
        ("序号", "姓名", "关系", "性别", "出生日期", "户籍在册", "残疾等级", "备注"),
        rows,
        (10, 24, 18, 12, 26, 20, 20, 30),
    )


def _indicators(pdf: FPDF, report: Mapping[str, Any]) -> None:
    _heading(pdf, "二、核对指标")
    terms = vocabulary()
    rows = []
    for code, value in report.get("indicators", {}).items():
        term = terms.get(code)
        rows.append(
            (term.zh if term else code, _number(value), term.unit if term else "", term.period if term else "", code)
        )
    _table(pdf, ("指标", "数值", "单位", "期间", "代码"), rows, (52, 28, 26, 24, 50))


def _sources(pdf: FPDF, report: Mapping[str, Any]) -> None:
    _heading(pdf, "三、数据来源")
    rows = []
    for source in report.get("sources", []):
        provenance = source.get("provenance") or {}
        records = provenance.get("record_ids") or []
        rows.append(
            (
                source.get("adapter"),
                source.get("category"),
                _STATUS.get(str(source.get("status")), source.get("status")),
                provenance.get("as_of", ""),
                ", ".join(records[:4]) + (" …" if len(records) > 4 else ""),
            )
        )
    _table(pdf, ("部门", "数据类别", "状态", "数据截至", "记录编号"), rows, (28, 28, 24, 26, 74))


def _decision(pdf: FPDF, report: Mapping[str, Any]) -> None:
    decision = report.get("decision") or {}
    _heading(pdf, "四、规则核对结果")
    rows = [
        ("符合" if rule.get("passed") else "不符合", (rule.get("explanation") or {}).get("zh", rule.get("id")))
        for rule in decision.get("rules", [])
    ]
    if rows:
        _table(pdf, ("结果", "说明"), rows, (22, 158))
    else:
        pdf.multi_cell(0, 6, "本用途无适用的认定规则。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _heading(pdf, "五、核对建议")
    recommendation = decision.get("recommendation")
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 7, _RECOMMENDATIONS.get(str(recommendation), "无建议"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9.5)
    for reason in decision.get("reasons", []):
        pdf.multi_cell(0, 5.5, f"· {reason.get('zh', reason.get('code'))}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_text_color(150, 30, 30)
    pdf.multi_cell(0, 5.5, f"人工确认：{HUMAN_NOTE}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)


def _provenance(pdf: FPDF, report: Mapping[str, Any]) -> None:
    _heading(pdf, "六、政策与审计")
    policy = report.get("policy") or {}
    audit = report.get("audit") or {}
    lines = [
        f"适用政策：{policy.get('id', '无')}，版本 {policy.get('version', '—')}",
        f"审计日志：{audit.get('log', '—')}，叶序号 {audit.get('leaf_index', '—')}"
        "（RFC 9162 透明日志，可出具包含证明）",
        f"授权书：{len(report.get('consents', []))} 份",
        "核验：扫描右上角二维码，得到核对平台签名的核验码（JWS），"
        "用 hedui report verify --qr <核验码> --report <报告 JSON> 核对签名与报告摘要。",
    ]
    for line in lines:
        pdf.multi_cell(0, 5.5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)
