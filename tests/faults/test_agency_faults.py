"""Each agency x each fault, over real HTTP against a sandbox (hub + five simulated agencies): no 5xx, the
failing source's status, a ``partial`` report, never ``eligible``, and every report readable only with its
``verification.completed`` entry in the audit log.

One sandbox for the module; each case sets one agency's faults, runs one verification of a household that
is ``eligible`` when every agency answers, and clears the faults. Deadlines are short (1 s) so the slow
and hanging cases stay cheap; the breaker is set high so that cases do not open it for each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from adapters.testkit.agencies import AGENCY_APPS
from adapters.testkit.faults import FaultSettings
from adapters.testkit.server import start_agency
from gateway.audit.log import MAX_PAGE
from gateway.client import HubClient
from gateway.sandbox import Sandbox
from tests.faults.conftest import ROWS
from tests.integration.helpers import scenario_named, verification_request
from tests.support import running_sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT_S = 1.0
AGENCIES = sorted(AGENCY_APPS)
TWO_CALLS = {"hukou", "housing"}  # adapters making two requests per verification


@dataclass(frozen=True)
class Fault:
    settings: Callable[[str], FaultSettings]
    # Per agency: the statuses the source may end with (and the error reason when it is one).
    expect: Callable[[str], set[str]]
    reason: str | None = None


def _always(*statuses: str) -> Callable[[str], set[str]]:
    return lambda _agency: set(statuses)


FAULTS: dict[str, Fault] = {
    "slow": Fault(lambda _: FaultSettings(latency_ms=TIMEOUT_S * 2500), _always("timeout")),
    "hang": Fault(lambda _: FaultSettings(hang_rate=1.0), _always("timeout")),
    "500 storm": Fault(lambda _: FaultSettings(error_rate=1.0, error_status=500), _always("unavailable")),
    # Each attempt is slow and fails: depending on where the deadline falls, retries exhausted or timed out.
    "500+slow": Fault(
        lambda _: FaultSettings(latency_ms=TIMEOUT_S * 400, error_rate=1.0, error_status=500),
        _always("unavailable", "timeout"),
    ),
    # Every other request fails: one call per verification succeeds on its retry, two calls cannot.
    "flapping": Fault(
        lambda _: FaultSettings(flap_period=1),
        lambda agency: {"unavailable"} if agency in TWO_CALLS else {"ok"},
    ),
    "malformed": Fault(lambda _: FaultSettings(garbage_rate=1.0), _always("error"), "source_protocol_error"),
    "truncated": Fault(lambda _: FaultSettings(malformed_rate=1.0), _always("error"), "source_protocol_error"),
    "reset": Fault(lambda _: FaultSettings(reset_rate=1.0), _always("unavailable")),
    "refused": Fault(lambda _: FaultSettings(), _always("unavailable")),  # the agency is stopped instead
    "another person's record": Fault(
        lambda _: FaultSettings(other_person_rate=1.0), _always("error"), "record_mismatch"
    ),
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    async with running_sandbox(
        tmp_path_factory.mktemp("faults"),
        households=20,
        hub_settings={"source_timeout_s": TIMEOUT_S, "source_retries": 1, "breaker_failures": 10_000},
    ) as box:
        yield box


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(sandbox: Sandbox) -> AsyncIterator[HubClient]:
    async with HubClient.from_sandbox(sandbox.sandbox_json) as hub_client:
        yield hub_client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tally() -> AsyncIterator[Counter[str]]:
    counts: Counter[str] = Counter()
    yield counts
    ROWS.append(
        (
            f"agency faults: {counts['cases']} cases ({len(AGENCIES)} agencies x {len(FAULTS)} faults + 1),",
            f"{counts['verifications']} verifications, 5xx answers: {counts['5xx']},",
            f"eligible with a failed source: {counts['eligible_on_failure']},",
            f"reports without verification.completed: {counts['unaudited']}",
        )
    )


async def _verify(client: HubClient, sandbox: Sandbox, tally: Counter[str]) -> dict[str, Any]:
    tally["verifications"] += 1
    try:
        return await client.verify(verification_request(scenario_named(sandbox, "clearly_eligible")))
    except Exception as exc:  # any problem answer here is a failure of the hub, counted, then raised
        status = getattr(exc, "extensions", {}).get("status")
        if isinstance(status, int) and status >= 500:
            tally["5xx"] += 1
        raise


async def _completed(sandbox: Sandbox, verification_id: str) -> bool:
    entries = await sandbox.hub.audit.search(types=["verification.completed", "verification.abandoned"], limit=MAX_PAGE)
    after = entries[-1].leaf_index if entries else None
    while after is not None:  # page through: the log grows with the suite
        more = await sandbox.hub.audit.search(
            types=["verification.completed", "verification.abandoned"], limit=MAX_PAGE, after=after
        )
        entries += more
        after = more[-1].leaf_index if len(more) == MAX_PAGE else None
    return any(entry.entry.get("verification_id") == verification_id for entry in entries)


async def test_the_household_is_eligible_when_every_agency_answers(
    sandbox: Sandbox, client: HubClient, tally: Counter[str]
) -> None:
    report = await _verify(client, sandbox, tally)
    assert report["status"] == "complete"
    assert report["decision"]["recommendation"] == "eligible"


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("agency", AGENCIES)
async def test_an_agency_fault_is_a_source_status_never_a_5xx_nor_eligible(
    sandbox: Sandbox, client: HubClient, tally: Counter[str], agency: str, fault: str
) -> None:
    case = FAULTS[fault]
    running = sandbox.agencies[agency]
    running.faults.settings = case.settings(agency)
    running.faults.reset_counters()
    if fault == "refused":
        await running.stop()
    try:
        report = await _verify(client, sandbox, tally)
    finally:
        running.faults.settings = FaultSettings()
        if fault == "refused":  # the same port again, so the hub's configuration holds
            assert sandbox.population is not None
            app = AGENCY_APPS[agency](sandbox.population, running.faults)
            sandbox.agencies[agency] = await start_agency(agency, app, running.faults, port=running.port)
    tally["cases"] += 1
    sources = {source["adapter"]: source for source in report["sources"]}
    expected = case.expect(agency)
    assert sources[agency]["status"] in expected, sources[agency]
    if case.reason is not None:
        assert sources[agency]["error"] == case.reason
    assert all(source["status"] == "ok" for name, source in sources.items() if name != agency)
    failed = sources[agency]["status"] != "ok"
    assert report["status"] == ("partial" if failed else "complete")
    if failed and report["decision"]["recommendation"] == "eligible":
        tally["eligible_on_failure"] += 1
    if failed:
        assert report["decision"]["recommendation"] != "eligible"
    if case.reason == "record_mismatch":
        assert "record_mismatch" in report["flags"] and report["decision"]["recommendation"] == "review"
    stored = await client.get_verification(report["verification_id"])
    assert stored == report
    if not await _completed(sandbox, report["verification_id"]):
        tally["unaudited"] += 1
        raise AssertionError("a report is readable without its verification.completed entry")


async def test_a_register_record_echoing_the_number_asked_is_caught_by_the_hub(
    sandbox: Sandbox, client: HubClient, tally: Counter[str]
) -> None:
    """The agency labels another person's register entry with the number asked: only the birth date and
    sex the identity number encodes can tell (GB 11643-1999 §4)."""
    hukou = sandbox.agencies["hukou"].faults
    hukou.settings = FaultSettings(other_person_rate=1.0, other_person_echo=True)
    try:
        report = await _verify(client, sandbox, tally)
    finally:
        hukou.settings = FaultSettings()
    tally["cases"] += 1
    hukou_source = next(source for source in report["sources"] if source["adapter"] == "hukou")
    assert (hukou_source["status"], hukou_source["error"]) == ("error", "record_mismatch")
    assert "record_mismatch" in report["flags"]
    assert report["decision"]["recommendation"] == "review"
