"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.adapters.soap_stand_in import SoapStandIn, running_soap_stand_in


@pytest.fixture
async def stand_in() -> AsyncIterator[SoapStandIn]:
    async with running_soap_stand_in() as fake:
        yield fake
