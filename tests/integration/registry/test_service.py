"""The registry service against a real database: recording, ending, searching, ownership, and the
duplicate-assistance check (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from gateway.envelope import HubKeys
from gateway.errors import Conflict, EnrollmentNotOwned, InvalidIdNumber, InvalidInput, NotFound, RegionNotCovered
from gateway.ids import id_number_check_char
from gateway.registry import EnrollmentCreate, EnrollmentEnd, EnrollmentSearch, RegistryService
from gateway.registry.models import Enrollment
from gateway.registry.service import sealed_id_number_aad
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from gateway.store.at_rest import open_at_rest
from tests.support import opened_audit_log, statements_sent

DONGCHENG = "110101"
JIANGYANG = "510502"
MIS_DONGCHENG = "CN/GOV/11110101MB12345677/dibao-mis"
MIS_JIANGYANG = "CN/GOV/11510502MB2345678N/dibao-mis"
MIS_CITY = "CN/GOV/11510500MB3456789B/dibao-mis"
AS_OF = date(2026, 10, 31)


def id_number(sequence: int, division: str = DONGCHENG, birth: str = "19720501") -> str:
    first17 = f"{division}{birth}{sequence:03d}"
    return first17 + id_number_check_char(first17)


HEAD, SPOUSE, CHILD = id_number(11), id_number(22, JIANGYANG, "19721201"), id_number(31, DONGCHENG, "20030630")
HOUSEHOLD = [HEAD, SPOUSE, CHILD]


def enrollment(person: str, programme: str = "dibao", region: str = DONGCHENG, **changes: Any) -> EnrollmentCreate:
    fields: dict[str, Any] = {
        "id_number": person,
        "programme": programme,
        "region": region,
        "start": date(2023, 4, 1),
        "monthly_amount": Decimal("600.00"),
    }
    fields.update(changes)
    return EnrollmentCreate.model_validate(fields)


async def record(registry: RegistryService, created: EnrollmentCreate) -> str:
    reporter = MIS_JIANGYANG if created.region == JIANGYANG else MIS_DONGCHENG
    view = await registry.record(created, member_id=reporter, member_region=created.region)
    return view.enrollment_id


# -- recording -----------------------------------------------------------------------------------------


async def test_record_stores_only_the_subject_ref_and_a_sealed_number(
    registry: RegistryService, database: Database, keys: HubKeys
) -> None:
    assert SPOUSE.endswith("X")  # given in lowercase below: stored normalised
    view = await registry.record(
        enrollment(SPOUSE.lower(), region=JIANGYANG, monthly_amount=Decimal("612.34")),
        member_id=MIS_JIANGYANG,
        member_region=JIANGYANG,
    )
    assert (view.programme, view.region, view.member) == ("dibao", JIANGYANG, MIS_JIANGYANG)
    assert (view.start, view.end, view.ended_at) == (date(2023, 4, 1), None, None)
    assert view.monthly_amount == Decimal("612.34")
    assert view.recorded_at.tzinfo is not None
    async with database.session() as session:
        row = (await session.scalars(select(Enrollment))).one()
    assert row.enrollment_id == view.enrollment_id
    assert row.subject_ref == hmac.new(keys.subject_pepper, SPOUSE.encode(), hashlib.sha256).hexdigest()
    assert SPOUSE.encode() not in row.id_number_sealed
    opened = open_at_rest(keys.storage_key, row.id_number_sealed, sealed_id_number_aad(row.enrollment_id))
    assert opened == SPOUSE.encode()
    assert row.monthly_amount_fen == 61234


async def test_a_member_reports_only_in_its_region(registry: RegistryService) -> None:
    with pytest.raises(RegionNotCovered):
        await registry.record(enrollment(HEAD, region=JIANGYANG), member_id=MIS_DONGCHENG, member_region=DONGCHENG)
    with pytest.raises(RegionNotCovered):
        await registry.record(enrollment(HEAD), member_id=MIS_DONGCHENG, member_region=None)
    city = await registry.record(enrollment(HEAD, region=JIANGYANG), member_id=MIS_CITY, member_region="510500")
    assert city.member == MIS_CITY


async def test_overlapping_report_of_the_same_assistance_conflicts(registry: RegistryService) -> None:
    await record(registry, enrollment(HEAD, end=date(2024, 3, 31)))
    with pytest.raises(Conflict):
        await record(registry, enrollment(HEAD, start=date(2024, 3, 31)))  # shares the last day
    with pytest.raises(Conflict):
        await record(registry, enrollment(HEAD, start=date(2022, 1, 1)))  # open-ended, covers it
    await record(registry, enrollment(HEAD, start=date(2024, 4, 1)))  # the day after: resumed assistance
    await record(registry, enrollment(HEAD, "tekun"))  # another programme: the duplicate check's business
    await record(registry, enrollment(HEAD, region=JIANGYANG))  # another region: likewise
    assert len((await registry.search(EnrollmentSearch(id_number=HEAD))).enrollments) == 4


async def test_concurrent_reports_of_one_enrollment_store_one(registry: RegistryService) -> None:
    starts = [date(2023, 4, 1) + timedelta(days=day) for day in range(6)]
    outcomes = await asyncio.gather(
        *(record(registry, enrollment(CHILD, start=start)) for start in starts), return_exceptions=True
    )
    assert sum(isinstance(outcome, str) for outcome in outcomes) == 1
    assert all(isinstance(outcome, (str, Conflict)) for outcome in outcomes)
    assert len((await registry.search(EnrollmentSearch(id_number=CHILD))).enrollments) == 1


# -- ending --------------------------------------------------------------------------------------------


async def test_the_reporting_member_ends_an_enrollment(registry: RegistryService) -> None:
    enrollment_id = await record(registry, enrollment(SPOUSE, region=JIANGYANG))
    ended = await registry.end(enrollment_id, EnrollmentEnd(end=date(2026, 6, 30)), member_id=MIS_JIANGYANG)
    assert ended.end == date(2026, 6, 30)
    assert ended.ended_at is not None
    again = await registry.end(enrollment_id, EnrollmentEnd(end=date(2026, 6, 30)), member_id=MIS_JIANGYANG)
    assert again == ended  # a retried request changes nothing
    earlier = await registry.end(enrollment_id, EnrollmentEnd(end=date(2026, 5, 31)), member_id=MIS_JIANGYANG)
    assert earlier.end == date(2026, 5, 31)
    with pytest.raises(Conflict):
        await registry.end(enrollment_id, EnrollmentEnd(end=date(2026, 7, 31)), member_id=MIS_JIANGYANG)
    (stored,) = (await registry.search(EnrollmentSearch(id_number=SPOUSE))).enrollments
    assert stored.end == date(2026, 5, 31)


async def test_ending_on_sqlite_holds_the_write_lock_while_another_process_writes(
    sqlite_url: str, keys: HubKeys, tmp_path: Path
) -> None:
    """``end`` reads the enrollment, then writes: one transaction under the write lock from BEGIN, so another
    process cannot commit in between (a lost update, or SQLITE_BUSY_SNAPSHOT for the end)."""
    database = Database(sqlite_url)
    path = make_url(sqlite_url).database
    assert path is not None
    other_process: list[str] = []

    def clock_while_another_process_writes() -> datetime:
        # Runs inside ``end``, between its read and its write: another connection tries to commit a write.
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=0.2)) as other:
                other.execute("CREATE TABLE IF NOT EXISTS side_writes (at TEXT)")
                other.execute("INSERT INTO side_writes VALUES ('now')")
                other.commit()
            other_process.append("committed")
        except sqlite3.OperationalError:
            other_process.append("waited for the lock")
        return datetime.now(UTC)

    try:
        async with opened_audit_log(database, tmp_path / "keys", DEFAULT_HUB_ID, keys.subject_pepper) as audit:
            recording = RegistryService(database, keys, audit=audit)
            enrollment_id = await record(recording, enrollment(SPOUSE, region=JIANGYANG))
            ending = RegistryService(database, keys, audit=audit, clock=clock_while_another_process_writes)
            ended = await ending.end(enrollment_id, EnrollmentEnd(end=date(2026, 6, 30)), member_id=MIS_JIANGYANG)
    finally:
        await database.dispose()
    assert ended.end == date(2026, 6, 30)
    assert other_process == ["waited for the lock"]


async def test_end_refusals(registry: RegistryService) -> None:
    enrollment_id = await record(registry, enrollment(SPOUSE, region=JIANGYANG))
    with pytest.raises(EnrollmentNotOwned):
        await registry.end(enrollment_id, EnrollmentEnd(end=date(2026, 6, 30)), member_id=MIS_DONGCHENG)
    with pytest.raises(InvalidInput):
        await registry.end(enrollment_id, EnrollmentEnd(end=date(2023, 3, 31)), member_id=MIS_JIANGYANG)
    with pytest.raises(NotFound):
        await registry.end("00000000-0000-4000-8000-000000000000", EnrollmentEnd(end=AS_OF), member_id=MIS_JIANGYANG)
    (stored,) = (await registry.search(EnrollmentSearch(id_number=SPOUSE))).enrollments
    assert stored.end is None


# -- searching -----------------------------------------------------------------------------------------


async def test_search_by_identity_number(registry: RegistryService) -> None:
    old = await record(registry, enrollment(HEAD, start=date(2020, 1, 1), end=date(2022, 12, 31)))
    current = await record(registry, enrollment(HEAD, "tekun", start=date(2023, 1, 1)))
    await record(registry, enrollment(SPOUSE, region=JIANGYANG))
    everything = await registry.search(EnrollmentSearch(id_number=HEAD.lower()))
    assert [view.enrollment_id for view in everything.enrollments] == [old, current]
    active = await registry.search(EnrollmentSearch(id_number=HEAD, active_on=AS_OF))
    assert [view.enrollment_id for view in active.enrollments] == [current]
    on_last_day = await registry.search(EnrollmentSearch(id_number=HEAD, active_on=date(2022, 12, 31)))
    assert [view.enrollment_id for view in on_last_day.enrollments] == [old]
    nobody = await registry.search(EnrollmentSearch(id_number=id_number(99)))
    assert nobody.enrollments == []
    rendered = everything.model_dump_json()
    assert HEAD not in rendered
    assert '"monthly_amount":600.0' in rendered


# -- the duplicate-assistance check -------------------------------------------------------------------


async def test_enrollment_in_another_region_flags_the_household(registry: RegistryService) -> None:
    await record(registry, enrollment(SPOUSE, region=JIANGYANG))
    findings = await registry.check_duplicates(HOUSEHOLD, "dibao", DONGCHENG, AS_OF)
    assert [finding.as_dict() for finding in findings] == [
        {
            "household_index": 1,
            "programme": "dibao",
            "region": JIANGYANG,
            "since": "2023-04-01",
            "reason": "other_region",
        }
    ]
    # Verified in Jiangyang, where she receives it, it is her own enrollment being re-verified.
    assert await registry.check_duplicates(HOUSEHOLD, "dibao", JIANGYANG, AS_OF) == []
    # The verification flow's entry point: the same check for "dibao.application", none for other purposes.
    assert await registry.check_for_purpose("dibao.application", HOUSEHOLD, DONGCHENG, AS_OF) == findings
    assert await registry.check_for_purpose("audit.review", HOUSEHOLD, DONGCHENG, AS_OF) == []


async def test_re_verifying_an_existing_recipient_is_not_a_duplicate(registry: RegistryService) -> None:
    await record(registry, enrollment(HEAD))
    assert await registry.check_duplicates(HOUSEHOLD, "dibao", DONGCHENG, AS_OF) == []
    assert await registry.check_for_purpose("dibao.review", HOUSEHOLD, DONGCHENG, AS_OF) == []


async def test_no_flag_after_the_end_date_or_before_the_start(registry: RegistryService) -> None:
    await record(registry, enrollment(HEAD, region=JIANGYANG, start=AS_OF + timedelta(days=1)))
    enrollment_id = await record(registry, enrollment(SPOUSE, region=JIANGYANG))
    await registry.end(enrollment_id, EnrollmentEnd(end=AS_OF - timedelta(days=1)), member_id=MIS_JIANGYANG)
    assert await registry.check_duplicates(HOUSEHOLD, "dibao", DONGCHENG, AS_OF) == []
    on_last_day = await registry.check_duplicates(HOUSEHOLD, "dibao", DONGCHENG, AS_OF - timedelta(days=1))
    assert [finding.member_index for finding in on_last_day] == [1]


async def test_overlapping_programme_rule(registry: RegistryService) -> None:
    await record(registry, enrollment(CHILD, "tekun"))
    await record(registry, enrollment(HEAD, "rigid_expenditure"))
    findings = await registry.check_duplicates(HOUSEHOLD, "dibao", DONGCHENG, AS_OF)
    assert [(f.member_index, f.programme, f.region, f.reason) for f in findings] == [
        (2, "tekun", DONGCHENG, "forbidden_overlap")
    ]
    # Read both ways: applying for tekun while on dibao is flagged too.
    await record(registry, enrollment(SPOUSE, "dibao", JIANGYANG))
    tekun = await registry.check_duplicates(HOUSEHOLD, "tekun", DONGCHENG, AS_OF)
    assert [(f.member_index, f.programme, f.reason) for f in tekun] == [(1, "dibao", "forbidden_overlap")]
    # The policy is data: forbid dibao with rigid_expenditure and nothing else.
    custom = await registry.check_duplicates(HOUSEHOLD, "dibao", DONGCHENG, AS_OF, {"dibao": {"rigid_expenditure"}})
    assert [(f.member_index, f.programme, f.reason) for f in custom] == [
        (0, "rigid_expenditure", "forbidden_overlap"),
        (1, "dibao", "other_region"),
    ]


async def test_the_check_is_one_query_for_the_household(registry: RegistryService, database: Database) -> None:
    await record(registry, enrollment(SPOUSE, region=JIANGYANG))
    with statements_sent(database) as statements:
        findings = await registry.check_duplicates(
            HOUSEHOLD + [id_number(n) for n in range(40, 45)], "dibao", DONGCHENG, AS_OF
        )
    assert len(findings) == 1
    assert statements == ["SELECT"]


async def test_check_validates_its_input(registry: RegistryService) -> None:
    bad = HEAD[:17] + ("0" if HEAD[17] != "0" else "1")
    with pytest.raises(InvalidIdNumber) as caught:
        await registry.check_duplicates([HEAD, bad], "dibao", DONGCHENG, AS_OF)
    assert caught.value.extensions == {"member_index": 1}
    assert bad not in caught.value.detail
    with pytest.raises(InvalidInput):
        await registry.check_duplicates(HOUSEHOLD, "pension", DONGCHENG, AS_OF)
