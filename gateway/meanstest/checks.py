"""The database side of a verification's checks, in one round trip: claim the request envelope's jti, read
the household's consents and its active registry enrollments (docs/architecture.md §4, §6, §8).

On PostgreSQL it is one statement on the pooled asyncpg connection (prepared once per connection by
asyncpg's statement cache): a data-modifying CTE inserts the replay row (``ON CONFLICT DO NOTHING
RETURNING``) and the two reads return rows only if that insert did, so a replayed envelope reads nothing
(fail closed). SQLAlchemy's per-statement cost (about 0.5 ms of hub CPU) is what this saves, besides the
two round trips. On SQLite (in process: no round trips) the same three steps run on SQLAlchemy Core, the
claim first.

What the rows mean stays with their owners: :func:`gateway.consent.coverage.covering_consents` decides
consent, :func:`gateway.registry.duplicates.find_duplicates` the duplicate-assistance findings.
:func:`read_checked_rows` is the one reader: ``ConsentService.check`` and ``RegistryService.check_duplicates``
read through it too (without a claim), so every consent and duplicate check reads the same rows the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.consent.coverage import Grant
from gateway.consent.models import Consent
from gateway.envelope import JtiClaim, SqlReplayCache
from gateway.errors import Replayed, StoreUnavailable
from gateway.registry.duplicates import ActiveEnrollment
from gateway.registry.models import Enrollment
from gateway.store import Database
from gateway.store.raw import autocommit_driver

_CLAIMED = """
WITH claimed AS (
    INSERT INTO replay_cache (issuer, jti, expires_at) VALUES ($5, $6, $7)
    ON CONFLICT (issuer, jti) DO NOTHING
    RETURNING 1
)
"""

_READ = """
SELECT
    {fresh} AS fresh,
    ARRAY(
        SELECT ROW(consent_id, subject_ref, purposes, categories, status, signed_at, valid_from, valid_until)
        FROM consents
        WHERE subject_ref = ANY($1::varchar[]) AND grantee = ANY($2::varchar[]){guard}
    ) AS grants,
    ARRAY(
        SELECT ROW(subject_ref, programme, region, start_date)
        FROM registry_enrollments
        WHERE subject_ref = ANY($3::varchar[]) AND start_date <= $4 AND (end_date IS NULL OR end_date >= $4){guard}
    ) AS enrollments
"""

_CHECK_CLAIMING_PG = _CLAIMED + _READ.format(
    fresh="EXISTS (SELECT 1 FROM claimed)", guard=" AND EXISTS (SELECT 1 FROM claimed)"
)
_CHECK_PG = _READ.format(fresh="true", guard="")


@dataclass(frozen=True, slots=True)
class CheckedRows:
    """The consents granted to the requester about the household, and the household's enrollments active
    on the verification date (each by its member's household position)."""

    grants: list[Grant]
    enrollments: list[ActiveEnrollment]


class VerificationChecks:
    """One per hub process. ``replay`` is the hub's shared replay cache (its table and purge schedule)."""

    def __init__(self, database: Database, replay: SqlReplayCache) -> None:
        self._database = database
        self._replay = replay

    async def read(
        self,
        claim: JtiClaim | None,
        subject_refs: Sequence[str],
        grantees: Sequence[str],
        *,
        enrollments_on: date | None,
    ) -> CheckedRows:
        """Claim ``claim`` (when given; :class:`Replayed` if it was claimed before, and then nothing is read),
        then the grants to ``grantees`` about ``subject_refs`` and, unless ``enrollments_on`` is None (a
        purpose of no registry programme), their enrollments active on that day."""
        return await read_checked_rows(
            self._database,
            subject_refs,
            grantees,
            enrollments_on=enrollments_on,
            claiming=None if claim is None else (claim, self._replay),
        )

    async def claim_alone(self, claim: JtiClaim | None) -> None:
        """Claim ``claim`` by itself: for a request refused before its checks, which must still be refused
        as a replay if it is one (and use up its jti otherwise), as when the envelope was opened."""
        if claim is not None:
            await self._replay.remember(claim.issuer, claim.jti, claim.expires_at)


async def read_checked_rows(
    database: Database,
    subject_refs: Sequence[str],
    grantees: Sequence[str],
    *,
    enrollments_on: date | None,
    claiming: tuple[JtiClaim, SqlReplayCache] | None = None,
) -> CheckedRows:
    """The rows every consent and duplicate-assistance check decides on, for the flow's checks and the
    services' ``check`` methods alike: the grants to ``grantees`` about ``subject_refs`` (none read when
    ``grantees`` is empty) and their enrollments active on ``enrollments_on`` (none read when None).
    ``claiming`` is a jti claim and its replay cache: claimed first, and a replay reads nothing."""
    refs = list(subject_refs)
    registry_refs = refs if enrollments_on is not None else []
    day = enrollments_on or date.min
    if database.is_sqlite:
        return await _read_core(database, claiming, refs, list(grantees), registry_refs, day)
    if claiming is not None:
        await claiming[1].purge_if_due()
    async with autocommit_driver(database) as driver:
        if claiming is None:
            row = await driver.fetchrow(_CHECK_PG, refs, list(grantees), registry_refs, day)
        else:
            claim = claiming[0]
            row = await driver.fetchrow(
                _CHECK_CLAIMING_PG,
                refs,
                list(grantees),
                registry_refs,
                day,
                claim.issuer,
                claim.jti,
                claim.expires_at.astimezone(UTC),
            )
    assert row is not None  # the statement always returns its one row
    if not row["fresh"]:
        raise Replayed()
    index_of = _positions(refs)
    return CheckedRows(
        grants=[
            # SQLAlchemy's asyncpg dialect decodes json on its pooled connections (a record's fields too).
            _grant(*grant)
            for grant in row["grants"]
        ],
        enrollments=[
            ActiveEnrollment(index_of[ref], programme, region, since)
            for ref, programme, region, since in row["enrollments"]
        ],
    )


async def _read_core(
    database: Database,
    claiming: tuple[JtiClaim, SqlReplayCache] | None,
    refs: list[str],
    grantees: list[str],
    registry_refs: list[str],
    day: date,
) -> CheckedRows:
    # One connection for the three statements: on SQLite each connection checkout, isolation change and
    # statement is a hop to aiosqlite's thread, the costly part of an in-process database.
    if claiming is not None:
        await claiming[1].purge_if_due()
    try:
        async with database.engine.connect() as connection:
            if claiming is not None:  # first, and committed before the reads: a replay reads nothing
                claim, replay = claiming
                await replay.remember_within(connection, claim.issuer, claim.jti, claim.expires_at)
                await connection.commit()
            grants = (
                (
                    await connection.execute(
                        select(
                            Consent.consent_id,
                            Consent.subject_ref,
                            Consent.purposes,
                            Consent.categories,
                            Consent.status,
                            Consent.signed_at,
                            Consent.valid_from,
                            Consent.valid_until,
                        ).where(Consent.subject_ref.in_(refs), Consent.grantee.in_(grantees))
                    )
                ).all()
                if grantees
                else []
            )
            enrollments = (
                (
                    await connection.execute(
                        select(
                            Enrollment.subject_ref, Enrollment.programme, Enrollment.region, Enrollment.start_date
                        ).where(
                            Enrollment.subject_ref.in_(registry_refs),
                            Enrollment.start_date <= day,
                            or_(Enrollment.end_date.is_(None), Enrollment.end_date >= day),
                        )
                    )
                ).all()
                if registry_refs
                else []
            )
    except SQLAlchemyError as exc:
        raise StoreUnavailable("the database did not complete the operation") from exc
    index_of = _positions(refs)
    return CheckedRows(
        grants=[_grant(*row) for row in grants],
        enrollments=[ActiveEnrollment(index_of[row[0]], row[1], row[2], row[3]) for row in enrollments],
    )


def _positions(refs: Sequence[str]) -> dict[str, int]:
    index_of: dict[str, int] = {}
    for index, ref in enumerate(refs):
        index_of.setdefault(ref, index)
    return index_of


def _grant(
    consent_id: str,
    ref: str,
    purposes: Any,
    categories: Any,
    status: str,
    signed_at: datetime,
    valid_from: datetime,
    valid_until: datetime,
) -> Grant:
    return Grant(
        consent_id=consent_id,
        subject_ref=ref,
        purposes=frozenset(purposes),
        categories=frozenset(categories),
        revoked=status == "revoked",
        signed_at=_utc(signed_at),
        valid_from=_utc(valid_from),
        valid_until=_utc(valid_until),
    )


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
