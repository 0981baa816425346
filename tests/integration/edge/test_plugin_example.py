"""The worked plugin example (examples/medical_insurance) through the whole hub: its category is requested,
consented and answered, its indicators appear in the report, in-process and behind an edge node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from hedui_medical_insurance.agency import create_app, record_for

from gateway.client import HubClient
from gateway.edge.attestation import verify_attestation
from gateway.meanstest.request import CATEGORIES
from gateway.sandbox import Sandbox
from tests.integration.helpers import sandbox_document, scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=["in_process", "edge"])
async def with_plugin(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Sandbox]:
    box = Sandbox(data_dir=tmp_path_factory.mktemp("plugin"), port=0, households=40)
    runner = web.AppRunner(create_app(box.as_of))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.extra_agencies = {"medical_insurance": f"http://127.0.0.1:{port}"}
    box.edges = ("medical_insurance",) if request.param == "edge" else ()
    await box.start()
    try:
        yield box
    finally:
        await box.stop()
        await runner.cleanup()


def _expected(household: list[dict[str, Any]]) -> dict[str, Any]:
    records = [record_for(member["id_number"])["record"] for member in household]
    insured = [r for r in records if r is not None]
    return {
        "medical_spending_12m": round(sum(r["spending12m"] for r in insured), 2),
        "medical_reimbursed_12m": round(sum(r["reimbursed12m"] for r in insured), 2),
        "chronic_illness_members": sum(1 for r in insured if r["chronicIllness"]),
        "serious_illness_members": sum(1 for r in insured if r["seriousIllness"]),
    }


async def test_the_plugin_category_is_verified_and_its_indicators_reported(with_plugin: Sandbox) -> None:
    scenario = scenario_named(with_plugin, "clearly_eligible")  # nobody deceased: every member counts
    body = verification_request(scenario, categories=[*CATEGORIES, "medical_insurance"])
    async with HubClient.from_sandbox(with_plugin.sandbox_json) as client:
        report = await client.verify(body)
        without = await client.verify(verification_request(scenario))
    assert report["status"] == "complete"
    plugin_codes = set(_expected(scenario["household"]))
    assert {code: report["indicators"][code] for code in plugin_codes} == _expected(scenario["household"])
    assert {k: v for k, v in report["indicators"].items() if k not in plugin_codes} == scenario["expected"][
        "indicators"
    ]
    assert report["decision"]["recommendation"] == scenario["expected"]["recommendation"]
    source = next(s for s in report["sources"] if s["adapter"] == "medical_insurance")
    assert source["status"] == "ok" and source["category"] == "medical_insurance"
    if with_plugin.edges:
        edge = sandbox_document(with_plugin)["edges"]["medical_insurance"]
        claims = verify_attestation(source["attestation"], edge["public_jwks"])
        assert claims["adapter"] == "medical_insurance"
    else:
        assert source["attestation"] is None
    # A request that does not ask for the category keeps the report's usual shape.
    assert without["indicators"] == scenario["expected"]["indicators"]
    assert "medical_insurance" not in [s["adapter"] for s in without["sources"]]
