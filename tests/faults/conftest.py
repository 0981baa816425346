"""The fault suite (issue 11): figures collected by the tests and printed at the end of the run."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

# name of the figure -> count; the tests add to it, the summary prints it.
FIGURES: Counter[str] = Counter()
ROWS: list[tuple[str, ...]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES and not ROWS:
        return
    terminalreporter.section("fault suite figures")
    for row in ROWS:
        terminalreporter.write_line("  ".join(row))
    for name, count in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {count}")


@pytest.fixture(scope="session")
def figures() -> Counter[str]:
    return FIGURES
