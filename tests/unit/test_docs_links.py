"""The repository is self-contained: every relative link in README.md and docs/*.md resolves to a file (and,
with a ``#fragment`` into Markdown, to a heading) inside the repository, and no file cites the design by a
path outside it (docs/architecture.md is the design of record)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.markdown import FENCE as _FENCE
from tests.markdown import github_anchors

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# Inline links and images: [text](target) / ![alt](target); the target ends at whitespace or ")".
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".toml", ".cfg", ".ini", ".txt", ""}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _without_code(text: str) -> str:
    """Drop fenced code blocks and inline code spans: links inside them are examples, not links."""
    kept: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def relative_links(document: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_without_code(document.read_text(encoding="utf-8")))
        if not _SCHEME.match(target) and not target.startswith("//")
    ]


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for target in relative_links(document):
        path_part, _, fragment = target.partition("#")
        resolved = (document.parent / unquote(path_part)).resolve() if path_part else document
        if not resolved.is_relative_to(root):
            problems.append(f"{target}: points outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in github_anchors(resolved.read_text("utf-8")):
            problems.append(f"{target}: no heading with that anchor")
    return problems


def test_documents_are_found() -> None:
    names = {document.name for document in DOCUMENTS}
    assert {"README.md", "architecture.md", "operations.md"} <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves(document: Path) -> None:
    assert broken_links(document) == []


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    """The checker itself can fail: a missing file, a missing heading and an escape from the repository."""
    docs = tmp_path / "repo" / "docs"
    docs.mkdir(parents=True)
    (docs / "architecture.md").write_text("# Title\n## 11. Observability\n", encoding="utf-8")
    probe = docs / "probe.md"
    probe.write_text(
        "[a](missing.md) [b](architecture.md#no-such-heading) [c](../../outside.md)"
        " [d](architecture.md#11-observability)"
        " `[e](in-code.md)`",
        encoding="utf-8",
    )
    problems = broken_links(probe, root=tmp_path / "repo")
    assert problems == [
        "missing.md: no such file",
        "architecture.md#no-such-heading: no heading with that anchor",
        "../../outside.md: points outside the repository",
    ]


def test_anchors_follow_github_rules() -> None:
    anchors = github_anchors("# 6. The flow (`POST /v1/x`)\n## Appendix: hedui_jose.py\n## Tests\n## Tests\n")
    assert anchors == {"6-the-flow-post-v1x", "appendix-hedui_josepy", "tests", "tests-1"}


def test_no_file_cites_the_design_outside_the_repository() -> None:
    """Design references read ``docs/architecture.md §N``; nothing names a design file beside the repository."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    outside = re.compile(r"\.\./shared/|/work/shared|DESIGN\.md|DESIGN §")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if not name or name.startswith("tests/vectors/") or path.suffix not in _TEXT_SUFFIXES:
            continue
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        if outside.search(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(name)
    assert offenders == [], "cite docs/architecture.md §N instead of a design file outside the repository"
