"""Server-rendered SVG charts (no script, no external assets): pure functions from numbers to markup.

Labels are escaped here; the templates mark the result safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f6feb", "#d97706", "#059669", "#b91c1c", "#7c3aed", "#0e7490", "#a16207", "#4b5563")
_FONT = "font-family=\"'Noto Sans CJK SC','Noto Sans SC',sans-serif\" font-size=\"12\""


def stacked_columns(
    title: str, columns: Sequence[str], series: Mapping[str, Sequence[int]], *, empty: str, width: int = 640
) -> str:
    """One column per label (days), stacked by series (purposes), with a legend."""
    height, top, bottom, left = 260, 30, 50, 40
    total = [sum(values[i] for values in series.values()) for i in range(len(columns))]
    peak = max(total, default=0)
    parts = _open(title, width, height)
    if peak == 0:
        return "".join([*parts, _text(width / 2, height / 2, empty, anchor="middle"), "</svg>"])
    plot_h = height - top - bottom
    step = (width - left - 10) / max(len(columns), 1)
    bar_w = max(step * 0.7, 2)
    for i, label in enumerate(columns):
        x, y = left + i * step, float(height - bottom)
        for colour, (name, values) in zip(_colours(), series.items(), strict=False):
            h = values[i] / peak * plot_h
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{escape(label)} {escape(name)}: {values[i]}</title></rect>"
                )
        if len(columns) <= 16 or i % max(len(columns) // 8, 1) == 0:
            parts.append(_text(x + bar_w / 2, height - bottom + 14, label[5:], anchor="middle"))
    parts.append(_text(left - 4, top + 4, str(peak), anchor="end"))
    parts.append(_text(left - 4, height - bottom, "0", anchor="end"))
    parts.extend(_legend(list(series), height - 16, left))
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(
    title: str, rows: Sequence[tuple[str, float]], *, empty: str, unit: str = "", width: int = 640
) -> str:
    """One bar per label, values written at the bar's end."""
    bar, gap, top, left = 18, 8, 30, 150
    height = top + max(len(rows), 1) * (bar + gap) + 10
    parts = _open(title, width, height)
    if not rows:
        return "".join([*parts, _text(width / 2, top + 20, empty, anchor="middle"), "</svg>"])
    peak = max(max(value for _, value in rows), 1.0)  # all zero (no errors) still draws its labels and 0s
    for i, ((label, value), colour) in enumerate(zip(rows, _colours(), strict=False)):
        y = top + i * (bar + gap)
        w = value / peak * (width - left - 80)
        parts.append(_text(left - 6, y + bar - 5, label, anchor="end"))
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(_text(left + w + 4, y + bar - 5, f"{value:g}{unit}"))
    parts.append("</svg>")
    return "".join(parts)


def _open(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        _text(0, 16, title, bold=True),
    ]


def _text(x: float, y: float, text: str, *, anchor: str = "start", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {_FONT}{weight}>{escape(text)}</text>'


def _legend(names: list[str], y: float, left: float) -> list[str]:
    parts, x = [], left
    for name, colour in zip(names, _colours(), strict=False):
        parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, y, name))
        x += 24 + 7 * len(name)
    return parts


def _colours() -> list[str]:
    return list(PALETTE) * 4
