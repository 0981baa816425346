"""SVG charts are well-formed XML, escape their labels and say when there is nothing to show."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gateway.console.charts import horizontal_bars, stacked_columns

NS = "{http://www.w3.org/2000/svg}"


def test_stacked_columns_draw_one_rect_per_nonzero_value() -> None:
    svg = stacked_columns("每日核对", ["2026-07-01", "2026-07-02"], {"a": [1, 0], "b": [2, 3]}, empty="无")
    tree = ET.fromstring(svg)
    rects = [r for r in tree.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(rects) == 3
    heights = sorted(float(r.get("height", "0")) for r in rects)
    assert heights[-1] > heights[0]


def test_labels_are_escaped() -> None:
    svg = horizontal_bars("t", [("<script>alert(1)</script>", 3.0)], empty="无")
    assert "<script>" not in svg
    ET.fromstring(svg)


def test_empty_charts_say_so() -> None:
    assert "暂无" in stacked_columns("t", ["2026-07-01"], {}, empty="暂无数据")
    assert "暂无" in horizontal_bars("t", [], empty="暂无数据")
    zero = horizontal_bars("t", [("tax", 0.0)], empty="暂无数据")
    assert "暂无" not in zero and ">0<" in zero
