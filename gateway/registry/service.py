"""The national beneficiary registry: record, end and search enrollments; the duplicate-assistance check.

Everything below HTTP. Routers authenticate the caller and pass its member id (and region); this module
decides what that member may do. Identity numbers arrive validated (see gateway.registry.bodies) and only
ever reach the database as ``subject_ref`` and an AES-256-GCM ciphertext.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import AuditLog, RegistryEnrollment
from gateway.envelope import HubKeys
from gateway.errors import (
    Conflict,
    EnrollmentNotOwned,
    InvalidIdNumber,
    InvalidInput,
    NotFound,
    RegionNotCovered,
)
from gateway.ids import parse_id_number, validate_region
from gateway.ids.gbt2260 import region_covers
from gateway.ids.subject import subject_ref
from gateway.meanstest import checks
from gateway.registry.bodies import EnrollmentCreate, EnrollmentEnd, EnrollmentList, EnrollmentSearch, EnrollmentView
from gateway.registry.duplicates import (
    DEFAULT_FORBIDDEN_OVERLAPS,
    PROGRAMMES,
    DuplicateFinding,
    find_duplicates,
    programme_for_purpose,
)
from gateway.registry.models import Enrollment
from gateway.store import Database
from gateway.store.at_rest import seal_at_rest

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sealed_id_number_aad(enrollment_id: str) -> bytes:
    """Associated data of ``id_number_sealed``: bound to its row, so a ciphertext moved elsewhere fails."""
    return b"hedui/registry/enrollment/" + enrollment_id.encode("ascii")


class RegistryService:
    def __init__(self, database: Database, keys: HubKeys, *, audit: AuditLog, clock: Clock = _utc_now) -> None:
        """Every change writes its ``registry.enrollment`` entry to ``audit`` in the transaction that makes
        it, whoever calls (API, seeding, batch)."""
        self._database = database
        self._audit = audit
        self._keys = keys
        self._clock = clock
        self._postgres = database.engine.dialect.name == "postgresql"

    async def record(
        self, enrollment: EnrollmentCreate, *, member_id: str, member_region: str | None
    ) -> EnrollmentView:
        """Record an enrollment reported by ``member_id``, whose region must cover the enrollment's region.

        :class:`Conflict` when the person already has an enrollment in the same programme and region for an
        overlapping period (a second report of the same assistance; to change one, end it and record anew).
        """
        if member_region is None or not region_covers(member_region, enrollment.region):
            raise RegionNotCovered("a member may only report enrollments in its own region")
        row = self._new_row(enrollment, member_id)
        async with self._database.session() as session, session.begin():
            await self._lock_subject(session, row.subject_ref)
            # Insert first, then look for a clash: on SQLite the insert takes the write lock, so the look-up
            # sees every row committed before it; on PostgreSQL the subject lock serialises the writers.
            session.add(row)
            await session.flush()
            clash = await session.scalar(
                select(Enrollment.enrollment_id)
                .where(
                    Enrollment.subject_ref == row.subject_ref,
                    Enrollment.programme == row.programme,
                    Enrollment.region == row.region,
                    Enrollment.enrollment_id != row.enrollment_id,
                    _overlaps(row.start_date, row.end_date),
                )
                .limit(1)
            )
            if clash is not None:
                raise Conflict("this person already has this programme in this region for an overlapping period")
            await self._audit.append_within(session, _entry(row, member_id, "enrolled"))
        return _view(row)

    async def end(self, enrollment_id: str, ending: EnrollmentEnd, *, member_id: str) -> EnrollmentView:
        """End an enrollment on ``ending.end`` (inclusive). Only its reporting member may.

        Ending again on the same day changes nothing (a retried request); an end may be moved earlier, never
        later (:class:`Conflict`): resumed assistance is a new enrollment.
        """
        async with self._database.write_session() as session:
            row = await session.get(Enrollment, enrollment_id, with_for_update=True)
            if row is None:
                raise NotFound("no such enrollment")
            if row.member_id != member_id:
                raise EnrollmentNotOwned("only the member that reported an enrollment may end it")
            if ending.end < row.start_date:
                raise InvalidInput("the end date is before the enrollment's start")
            if row.end_date is not None and ending.end > row.end_date:
                raise Conflict("the enrollment already ends earlier; record a new enrollment to resume")
            if row.end_date != ending.end:
                row.end_date = ending.end
                row.ended_at = self._clock()
                await self._audit.append_within(session, _entry(row, member_id, "ended"))
        return _view(row)

    async def search(self, query: EnrollmentSearch) -> EnrollmentList:
        """A person's enrollments, oldest first; only those active on ``query.active_on`` when given."""
        conditions = [Enrollment.subject_ref == self._subject_ref(query.id_number)]
        if query.active_on is not None:
            conditions.append(_active_on(query.active_on))
        async with self._database.session() as session:
            rows = (
                await session.scalars(
                    select(Enrollment).where(*conditions).order_by(Enrollment.start_date, Enrollment.enrollment_id)
                )
            ).all()
        return EnrollmentList(enrollments=[_view(row) for row in rows])

    async def check_duplicates(
        self,
        household_id_numbers: Sequence[str],
        programme: str,
        region: str,
        as_of: date,
        forbidden_overlaps: Mapping[str, Set[str]] = DEFAULT_FORBIDDEN_OVERLAPS,
    ) -> list[DuplicateFinding]:
        """Duplicate-assistance findings for a household applying for ``programme`` in ``region`` on
        ``as_of`` (see gateway.registry.duplicates): one query for the whole household."""
        if programme not in PROGRAMMES:
            raise InvalidInput(f"programme must be one of {', '.join(PROGRAMMES)}")
        validate_region(region)
        refs = []
        for index, raw in enumerate(household_id_numbers):
            try:
                refs.append(self._subject_ref(parse_id_number(raw).value))
            except InvalidIdNumber as exc:
                raise InvalidIdNumber(f"household member {index}: {exc.detail}", member_index=index) from None
        if not refs:
            return []
        # The verification flow's reader and decision (imported as a module: it imports this package's modules).
        rows = await checks.read_checked_rows(self._database, refs, (), enrollments_on=as_of)
        return find_duplicates(rows.enrollments, programme, region, forbidden_overlaps)

    async def check_for_purpose(
        self,
        purpose: str,
        household_id_numbers: Sequence[str],
        region: str,
        as_of: date,
        forbidden_overlaps: Mapping[str, Set[str]] = DEFAULT_FORBIDDEN_OVERLAPS,
    ) -> list[DuplicateFinding]:
        """:meth:`check_duplicates` for a verification's purpose; none for a purpose naming no programme."""
        programme = programme_for_purpose(purpose)
        if programme is None:
            return []
        return await self.check_duplicates(household_id_numbers, programme, region, as_of, forbidden_overlaps)

    async def load(self, enrollments: Iterable[tuple[str, EnrollmentCreate]]) -> int:
        """Bulk import of existing enrollments as ``(reporting member id, enrollment)`` pairs, in one
        transaction: an operator's import (the legacy registry, the sandbox population), so neither the
        region rule nor the overlap rule of :meth:`record` applies. Returns how many were stored."""
        rows = [self._new_row(enrollment, member_id) for member_id, enrollment in enrollments]
        if not rows:
            return 0
        async with self._database.session() as session, session.begin():
            # The entries first: on SQLite their sequencer update takes the write lock.
            await self._audit.append_within(session, *(_entry(row, row.member_id, "enrolled") for row in rows))
            session.add_all(rows)
        return len(rows)

    def _subject_ref(self, id_number: str) -> str:
        return subject_ref(self._keys.subject_pepper, id_number)

    def _new_row(self, enrollment: EnrollmentCreate, member_id: str) -> Enrollment:
        enrollment_id = str(uuid.uuid4())
        sealed = seal_at_rest(
            self._keys.storage_key, enrollment.id_number.encode("ascii"), sealed_id_number_aad(enrollment_id)
        )
        return Enrollment(
            enrollment_id=enrollment_id,
            subject_ref=self._subject_ref(enrollment.id_number),
            id_number_sealed=sealed,
            programme=enrollment.programme,
            region=enrollment.region,
            member_id=member_id,
            start_date=enrollment.start,
            end_date=enrollment.end,
            monthly_amount_fen=int(enrollment.monthly_amount.scaleb(2)),
            recorded_at=self._clock(),
            ended_at=None,
        )

    async def _lock_subject(self, session: AsyncSession, subject_ref: str) -> None:
        """Serialise writers about one person until the transaction ends (PostgreSQL advisory lock)."""
        if self._postgres:
            key = int.from_bytes(bytes.fromhex(subject_ref[:16]), "big", signed=True)
            await session.execute(select(func.pg_advisory_xact_lock(key)))


def _active_on(day: date) -> ColumnElement[bool]:
    return and_(Enrollment.start_date <= day, or_(Enrollment.end_date.is_(None), Enrollment.end_date >= day))


def _overlaps(start: date, end: date | None) -> ColumnElement[bool]:
    """Stored periods sharing a day with ``start``..``end`` (both inclusive; no end = open-ended)."""
    stored_reaches_start = or_(Enrollment.end_date.is_(None), Enrollment.end_date >= start)
    if end is None:
        return stored_reaches_start
    return and_(stored_reaches_start, Enrollment.start_date <= end)


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _view(row: Enrollment) -> EnrollmentView:
    return EnrollmentView(
        enrollment_id=row.enrollment_id,
        subject_ref=row.subject_ref,
        programme=row.programme,
        region=row.region,
        member=row.member_id,
        start=row.start_date,
        end=row.end_date,
        monthly_amount=Decimal(row.monthly_amount_fen).scaleb(-2),
        recorded_at=_aware(row.recorded_at),
        ended_at=None if row.ended_at is None else _aware(row.ended_at),
    )


def _entry(row: Enrollment, actor: str, outcome: Literal["enrolled", "ended"]) -> RegistryEnrollment:
    """docs/architecture.md §9 ``registry.enrollment``."""
    return RegistryEnrollment(
        actor=actor,
        enrollment_id=row.enrollment_id,
        subject_refs=(row.subject_ref,),
        programme=row.programme,
        region=row.region,
        outcome=outcome,
    )
