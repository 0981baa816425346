"""The example plugin on its own: its adapter against its simulated agency over real HTTP, its vocabulary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiohttp import web
from hedui_medical_insurance import VOCABULARY, MedicalInsuranceAdapter
from hedui_medical_insurance.agency import create_app, record_for

from adapters.base import QueryMember, SourceQuery
from gateway.broker import discover_adapters
from gateway.ids import id_number_check_char

AS_OF = date(2026, 7, 1)


def _id_number(serial: int) -> str:
    first17 = f"11010119800101{serial:03d}"
    return first17 + id_number_check_char(first17)


@pytest.fixture
async def agency_url() -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(AS_OF))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _query(*numbers: str) -> SourceQuery:
    members = tuple(QueryMember(index=i, id_number=n, name="x", relation="self") for i, n in enumerate(numbers))
    return SourceQuery("v-1", "dibao.application", "110101", members, AS_OF)


def test_the_entry_point_names_the_adapter_with_its_vocabulary() -> None:
    adapter_class = discover_adapters()["medical_insurance"]
    assert adapter_class is MedicalInsuranceAdapter
    assert adapter_class.vocabulary is VOCABULARY
    assert VOCABULARY.category in adapter_class.categories


async def test_facts_come_from_the_agency_record_of_each_member(agency_url: str) -> None:
    numbers = [_id_number(serial) for serial in range(1, 9)]
    adapter = MedicalInsuranceAdapter(agency_url)
    try:
        result = await adapter.fetch(_query(*numbers))
        assert await adapter.health()
    finally:
        await adapter.aclose()
    assert result.provenance.as_of == AS_OF
    for index, number in enumerate(numbers):
        record = record_for(number)["record"]
        facts = {f.code: f.value for f in result.facts if f.member == index}
        if record is None:
            assert facts == {}
            continue
        assert facts == {
            "medical.spending_12m": record["spending12m"],
            "medical.reimbursed_12m": record["reimbursed12m"],
            "medical.chronic_illness": record["chronicIllness"],
            "medical.serious_illness": record["seriousIllness"],
        }
    assert any(record_for(n)["record"] is None for n in numbers) or len(result.facts) == 4 * len(numbers)


def test_records_are_deterministic_and_bounded() -> None:
    for serial in range(1, 50):
        answer = record_for(_id_number(serial))
        assert answer == record_for(_id_number(serial))
        if answer["record"] is not None:
            assert 0 <= answer["record"]["reimbursed12m"] <= answer["record"]["spending12m"] <= 19990
