"""``read_batch_file``: every line is parsed by the bounded JSON parser and checked as the hub checks it; bad
lines are reported by number and problem code only."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.batch.cli import MAX_LINE_BYTES, read_batch_file
from gateway.ids import gb11643

ID_NUMBER = "11010119800101001" + gb11643.id_number_check_char("11010119800101001")


def item(case_id: str) -> dict[str, object]:
    return {
        "case_id": case_id,
        "region": "110101",
        "operator": "clerk-7",
        "categories": ["hukou"],
        "household": [{"id_number": ID_NUMBER, "name": "张三", "relation": "self"}],
    }


def test_good_lines_are_read_and_bad_ones_reported_by_number_only(tmp_path: Path) -> None:
    lines = [
        json.dumps(item("C-1"), ensure_ascii=False),
        "",  # blank lines are skipped, not reported
        "[" * 10_000 + "]" * 10_000,  # nested past the parser's depth bound
        '{"case_id": "C-2", "case_id": "C-3"}',  # a repeated member: which one would the hub use?
        json.dumps(item("C-4")).replace('"region": "110101"', '"region": NaN'),
        json.dumps(item("C-5")) + " " * MAX_LINE_BYTES,  # valid JSON, but past the line bound
        json.dumps(item("C-6")),
    ]
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    items, bad = read_batch_file(path, "dibao.review")

    assert [entry["case_id"] for entry in items] == ["C-1", "C-6"]
    assert bad == [(3, "invalid_request"), (4, "invalid_request"), (5, "invalid_request"), (6, "invalid_request")]
    assert all(ID_NUMBER not in str(reason) for reason in bad)
