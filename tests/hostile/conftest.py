"""One sandbox (hub and simulated agencies, real HTTP) for the whole hostile-client suite, and its figures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from gateway.sandbox import Sandbox
from tests.hostile.kit import TALLY, Hostile
from tests.support import running_sandbox


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    async with running_sandbox(
        tmp_path_factory.mktemp("hostile"),
        households=20,
        hub_settings={"source_timeout_s": 2.0, "source_retries": 0},
    ) as box:
        yield box


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def hostile(sandbox: Sandbox) -> AsyncIterator[Hostile]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield Hostile(sandbox, http)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if sum(TALLY.cases.values()):
        terminalreporter.write_line(TALLY.summary())
        for name in TALLY.server_errors + TALLY.leaks + TALLY.unaudited:
            terminalreporter.write_line(f"  {name}")
