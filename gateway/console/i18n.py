"""The console's words in Chinese (the default) and English. A missing key is a bug: tests render every page
in both languages with ``strict`` lookups."""

from __future__ import annotations

import re

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
_LANG = re.compile(r"zh|en")

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (中文, English)
    "console": ("审计控制台", "Audit console"),
    "brand": ("核对 Hedui", "Hedui (核对)"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "sign_in_oidc": ("使用统一身份认证登录", "Sign in with the identity provider"),
    "oidc_failed": ("统一身份认证登录未完成。", "Sign-in through the identity provider did not complete."),
    "sign_in_failed": ("用户名或密码错误。", "Wrong user name or password."),
    "locked_out": (
        "登录失败次数过多，账户已被锁定，请稍后再试。",
        "Too many failed sign-ins: the account is locked for now.",
    ),
    "nav_search": ("访问日志", "Access log"),
    "nav_checkpoints": ("检查点", "Checkpoints"),
    "nav_subject": ("个人访问报告", "Subject access report"),
    "nav_dashboard": ("统计", "Dashboard"),
    "nav_alerts": ("滥用告警", "Misuse alerts"),
    "search_title": ("访问日志检索", "Search the access log"),
    "since": ("起始时间 (UTC)", "From (UTC)"),
    "until": ("截止时间 (UTC)", "Until (UTC)"),
    "member": ("成员", "Member"),
    "operator": ("经办人", "Operator"),
    "purpose": ("用途", "Purpose"),
    "entry_type": ("条目类型", "Entry type"),
    "outcome": ("结果", "Outcome"),
    "any": ("全部", "any"),
    "id_number": ("公民身份号码", "Resident identity number"),
    "id_number_hint": (
        "按身份号码检索时以表单提交，不出现在网址中，按主体引用 (HMAC) 查找。",
        "Sent in the form, never in a URL; looked up by its subject reference (HMAC).",
    ),
    "search": ("检索", "Search"),
    "results": ("检索结果", "Results"),
    "no_results": ("没有符合条件的条目。", "No entries match."),
    "leaf": ("叶序号", "Leaf"),
    "time": ("时间", "Time"),
    "type": ("类型", "Type"),
    "shown_first": ("按叶序号排列，最多显示 {n} 条。", "By leaf index, at most {n} shown."),
    "entry_title": ("日志条目 #{leaf}", "Log entry #{leaf}"),
    "field": ("字段", "Field"),
    "value": ("值", "Value"),
    "canonical_bytes": ("规范化字节 (RFC 8785)", "Canonical bytes (RFC 8785)"),
    "log_key": ("日志公钥", "Log key"),
    "log_key_hint": (
        "浏览器用此公钥独立核验：叶哈希、包含证明 (RFC 9162) 与检查点签名 (Ed25519)，不依赖服务器的结论。",
        "Your browser checks the leaf hash, the RFC 9162 inclusion proof and the checkpoint's Ed25519 "
        "signature against this key itself, trusting nothing the server concludes.",
    ),
    "proof_checking": ("正在浏览器中核验……", "Checking in the browser…"),
    "proof_verified": ("已核验：条目包含在已签名的日志中", "Verified: the entry is in the signed log"),
    "proof_failed": ("核验失败", "Verification failed"),
    "checkpoints_title": ("检查点历史", "Checkpoint history"),
    "tree_size": ("树大小", "Tree size"),
    "root_hash": ("根哈希", "Root hash"),
    "signed_at": ("签名时间", "Signed at"),
    "consistency": ("一致性证明", "Consistency proof"),
    "first_size": ("较早的树大小", "Earlier tree size"),
    "second_size": ("较晚的树大小", "Later tree size"),
    "check": ("核验", "Check"),
    "consistent": (
        "一致：较晚的日志包含较早日志的全部条目，未被改写",
        "Consistent: the later log extends the earlier one",
    ),
    "inconsistent": ("不一致", "Not consistent"),
    "subject_title": ("个人访问报告", "Subject access report"),
    "subject_hint": (
        "列出谁在何时、为何目的、向哪些部门查询了此人的数据及结果；不含他人数据。",
        "Who looked at this person's data, when, why, which agencies, and the outcome; nobody else's data.",
    ),
    "report": ("生成报告", "Report"),
    "print": ("打印", "Print"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "generated_at": ("生成时间", "Generated at"),
    "accesses": ("访问记录", "Accesses"),
    "kind": ("类别", "Kind"),
    "case": ("案件", "Case"),
    "categories": ("数据类别", "Categories"),
    "agencies": ("部门", "Agencies"),
    "no_accesses": ("没有访问记录。", "No accesses."),
    "truncated": ("记录过多，仅显示前一部分。", "Too many records; only the first are shown."),
    "dashboard_title": ("统计图表", "Dashboard"),
    "chart_verifications": ("每日核对次数（按用途）", "Verifications per day, by purpose"),
    "chart_regions": ("核对次数（按地区）", "Verifications by region"),
    "chart_latency": ("部门平均响应时间 (毫秒)", "Agency mean latency (ms)"),
    "chart_errors": ("部门错误率 (%)", "Agency error rate (%)"),
    "chart_refusals": ("每日授权拒绝次数", "Consent refusals per day"),
    "chart_recommendations": ("核对建议", "Recommendations"),
    "no_data": ("暂无数据", "No data"),
    "last_days": ("最近 {n} 天", "Last {n} days"),
    "alerts_title": ("滥用告警", "Misuse alerts"),
    "rule": ("规则", "Rule"),
    "raised_at": ("告警时间", "Raised at"),
    "key": ("对象", "About"),
    "entries": ("相关条目", "Entries"),
    "acknowledge": ("确认", "Acknowledge"),
    "acknowledged_by": ("已由 {who} 确认", "Acknowledged by {who}"),
    "no_alerts": ("暂无告警。", "No alerts."),
    "watch_list": ("关注名单", "Watch list"),
    "watch_add": ("加入关注名单", "Add to the watch list"),
    "watch_added": ("已加入关注名单。", "Added to the watch list."),
    "error": ("错误", "Error"),
    "back_to_console": ("返回审计控制台", "Back to the console"),
    "invalid_id_number": ("身份号码无效。", "Invalid resident identity number."),
    "invalid_input": ("输入无效：{detail}", "Invalid input: {detail}"),
}


def language(value: str | None) -> str:
    return value if value is not None and _LANG.fullmatch(value) else DEFAULT


def translate(lang: str, key: str, **values: object) -> str:
    zh, en = MESSAGES[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text
