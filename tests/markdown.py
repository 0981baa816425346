"""Markdown as GitHub renders it, for tests that check links and anchors (docs, runbook references)."""

from __future__ import annotations

import re

FENCE = re.compile(r"^(```|~~~)")


def github_anchors(markdown: str) -> set[str]:
    """The fragment ids GitHub gives a document's headings: lower case, punctuation dropped (letters of any
    script, digits, ``_`` and ``-`` kept), spaces to ``-``; repeats get ``-1``, ``-2``..."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        heading = re.fullmatch(r"(#{1,6})[ \t]+(.*?)[ \t#]*", line)
        if fenced or heading is None:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(2))  # a link in a heading keeps its text
        slug = "".join(ch for ch in text.lower() if ch.isalnum() or ch in "_- ").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors
