"""A sandbox (hub + five simulated agencies over HTTP) per test module, and helpers to drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.client import HubClient
from gateway.sandbox import Sandbox
from tests.support import running_sandbox


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    async with running_sandbox(
        tmp_path_factory.mktemp("sandbox"),
        households=40,
        hub_settings={"source_timeout_s": 1.0, "source_retries": 0},
    ) as box:
        yield box


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(sandbox: Sandbox) -> AsyncIterator[HubClient]:
    async with HubClient.from_sandbox(sandbox.sandbox_json) as hub_client:
        yield hub_client
