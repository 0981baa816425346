"""The conformance suite (adapters/testkit/conformance.py) over the five built-in adapters and the worked
plugin example, as CI runs `hedui adapters test`."""

from __future__ import annotations

import pytest

from adapters.testkit.conformance import run_conformance

ADAPTERS = ("hukou", "civil_affairs", "tax", "housing", "banking", "medical_insurance")


@pytest.mark.parametrize("name", ADAPTERS)
async def test_the_adapter_passes_the_conformance_suite(name: str) -> None:
    checks = {check.name: check for check in await run_conformance(name)}
    assert set(checks) == {
        "contract",
        "answers",
        "wrong_person",
        "deadline",
        "unavailable",
        "protocol_error",
        "unreachable",
        "health",
        "no_identity_numbers_in_logs",
    }
    assert {n: c.detail for n, c in checks.items() if not c.passed} == {}


async def test_an_unknown_entry_point_fails_the_contract() -> None:
    checks = await run_conformance("no_such_adapter")
    assert [(c.name, c.passed) for c in checks] == [("contract", False)]
