"""The batch-query convention of the REST agencies: request building, error descriptions, concurrency."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest
from pydantic import ValidationError

from adapters.base import QueryMember, SourceQuery
from adapters.rest import AgencyAnswer, BatchQuery, PersonRef, SeqResult, concurrently, describe_errors
from gateway.errors import InvalidInput, SourceProtocolError, SourceUnavailable
from gateway.ids import id_number_check_char

FIRST = "11010119750101001" + id_number_check_char("11010119750101001")
SECOND = "45090219900101003" + id_number_check_char("45090219900101003")


def _query(*members: QueryMember) -> SourceQuery:
    return SourceQuery("7d9e2c4a-1b3f-4e5d", "dibao.application", "110101", members, date(2026, 7, 1))


def test_a_batch_carries_identity_numbers_and_positions_but_no_names() -> None:
    query = _query(QueryMember(0, FIRST, "张建国", "self"), QueryMember(5, SECOND, "李秀英", "spouse"))

    batch = BatchQuery.for_members(query)
    wire = json.loads(batch.model_dump_json())

    assert wire["persons"] == [{"seq": 0, "idNumber": FIRST}, {"seq": 5, "idNumber": SECOND}]
    assert (wire["verificationId"], wire["purpose"], wire["region"]) == (
        "7d9e2c4a-1b3f-4e5d",
        "dibao.application",
        "110101",
    )
    assert "张建国" not in batch.model_dump_json()
    assert BatchQuery.for_members(query).requestId != batch.requestId


def test_reprs_never_show_identity_numbers() -> None:
    batch = BatchQuery.for_members(_query(QueryMember(0, FIRST, "张建国", "self")))
    assert FIRST not in repr(batch)
    assert FIRST not in repr(PersonRef(seq=0, idNumber=FIRST))


@pytest.mark.parametrize(
    "members",
    [
        pytest.param((), id="no members"),
        pytest.param((QueryMember(0, FIRST[:17] + ("0" if FIRST[17] != "0" else "1"), "x", "self"),), id="check char"),
        pytest.param((QueryMember(0, FIRST, "x", "self"), QueryMember(0, SECOND, "y", "child")), id="same index"),
        pytest.param(tuple(QueryMember(n, FIRST, "x", "self") for n in range(101)), id="over 100 members"),
    ],
)
def test_a_query_outside_the_contract_is_invalid_input(members: tuple[QueryMember, ...]) -> None:
    with pytest.raises(InvalidInput) as raised:
        BatchQuery.for_members(_query(*members))
    assert FIRST[:17] not in str(raised.value)


def test_error_descriptions_name_places_and_rules_never_values() -> None:
    hostile = {"code": "0000", "message": "", "requestId": "0" * 32, "data": {"asOf": "x", "results": []}, FIRST: 1}

    with pytest.raises(ValidationError) as raised:
        AgencyAnswer[SeqResult].model_validate_json(json.dumps(hostile))
    described = describe_errors(raised.value)

    assert described == "data.asOf: date_parsing; ?: extra_forbidden"
    # pydantic's own text names the hostile key: the reason the client raises its own error unchained.
    assert FIRST in str(raised.value)


def test_many_errors_are_summarised() -> None:
    with pytest.raises(ValidationError) as raised:
        AgencyAnswer[SeqResult].model_validate_json(json.dumps({"a": 1, "b": 2, "c": 3, "d": 4}))
    assert describe_errors(raised.value).endswith("and 5 more")


async def test_concurrently_returns_both_results() -> None:
    async def value(result: int) -> int:
        await asyncio.sleep(0)
        return result

    assert await concurrently(value(1), value(2)) == (1, 2)


async def test_concurrently_raises_the_failure_itself_and_cancels_the_other() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def failing() -> None:
        try:
            raise ConnectionResetError
        except ConnectionResetError as exc:
            raise SourceUnavailable("agency connection failed") from exc

    with pytest.raises(SourceUnavailable) as raised:
        await concurrently(slow(), failing())

    assert cancelled.is_set()
    assert isinstance(raised.value.__cause__, ConnectionResetError)
    assert raised.value.__suppress_context__


async def test_concurrently_raises_the_first_of_two_failures() -> None:
    async def failing(error: Exception) -> None:
        raise error

    with pytest.raises((SourceProtocolError, SourceUnavailable)):
        await concurrently(failing(SourceProtocolError()), failing(SourceUnavailable()))


async def test_a_failure_leaves_no_cancellation_pending_on_the_caller() -> None:
    """Issue 11 defect 6: on Python 3.11 a TaskGroup whose child fails cancels the calling task; that
    request outlived the group and hit the broker's retry backoff as a bare CancelledError (HTTP 500)."""
    other_started = asyncio.Event()

    async def hangs() -> None:
        other_started.set()
        await asyncio.Event().wait()

    async def fails_once_the_other_runs() -> None:
        await other_started.wait()
        raise SourceUnavailable("agency answered HTTP 503")

    with pytest.raises(SourceUnavailable):
        await concurrently(hangs(), fails_once_the_other_runs())

    caller = asyncio.current_task()
    assert caller is not None and caller.cancelling() == 0
    await asyncio.sleep(0)  # where the broker's retry backoff waits: no cancellation may arrive here
    await asyncio.sleep(0)


async def test_the_children_are_cancelled_and_awaited_when_the_caller_is_cancelled() -> None:
    running = asyncio.Event()
    finished: list[str] = []

    async def hangs(name: str) -> None:
        try:
            running.set()
            await asyncio.Event().wait()
        finally:
            finished.append(name)

    caller = asyncio.create_task(concurrently(hangs("first"), hangs("second")))
    await running.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert sorted(finished) == ["first", "second"]
