"""The verification's checks in one round trip (gateway.meanstest.checks), on SQLite and PostgreSQL: the jti
claim decides first (a replay reads nothing), then the household's grants and active enrollments."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from gateway.consent.models import Consent
from gateway.envelope import JtiClaim, SqlReplayCache
from gateway.errors import Replayed
from gateway.meanstest.checks import VerificationChecks
from gateway.registry.duplicates import ActiveEnrollment
from gateway.registry.models import Enrollment
from gateway.store import Database
from gateway.store.models import ReplayEntry

NOW = datetime.now(UTC)
DAY = NOW.date()
ALICE, BOB, CAROL = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=2)
    async with db.engine.begin() as connection:
        await connection.execute(insert(Consent), [consent(ALICE, "mis"), consent(BOB, "110101"), consent(CAROL, "x")])
        await connection.execute(
            insert(Enrollment),
            [
                enrollment(ALICE, "dibao", DAY - timedelta(days=30), None),
                enrollment(BOB, "tekun", DAY - timedelta(days=30), DAY - timedelta(days=1)),  # ended
                enrollment(BOB, "marginal", DAY + timedelta(days=1), None),  # not yet
            ],
        )
    yield db
    await db.dispose()


def consent(ref: str, grantee: str) -> dict[str, object]:
    return {
        "consent_id": str(uuid.uuid4()),
        "subject_ref": ref,
        "subject_sealed": b"sealed",
        "controller": "mis",
        "grantee": grantee,
        "purposes": ["dibao.application"],
        "categories": ["income", "housing"],
        "legal_basis": "consent",
        "collection_method": "paper",
        "evidence_sha256": ref,
        "evidence_ref": "form",
        "signed_at": NOW - timedelta(days=2),
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=300),
        "status": "active",
        "registered_at": NOW,
        "receipt": "receipt",
    }


def enrollment(ref: str, programme: str, start: date, end: date | None) -> dict[str, object]:
    return {
        "enrollment_id": str(uuid.uuid4()),
        "subject_ref": ref,
        "id_number_sealed": b"sealed",
        "programme": programme,
        "region": "110101",
        "member_id": "mis",
        "start_date": start,
        "end_date": end,
        "monthly_amount_fen": 100,
        "recorded_at": NOW,
    }


def claim(jti: str) -> JtiClaim:
    return JtiClaim("CN/GOV/110101/mis", jti, NOW + timedelta(minutes=6))


async def test_a_fresh_claim_reads_the_households_grants_and_active_enrollments(database: Database) -> None:
    checks = VerificationChecks(database, SqlReplayCache(database))
    rows = await checks.read(claim("j-1"), [ALICE, BOB], ["mis", "110101"], enrollments_on=DAY)
    assert sorted(grant.subject_ref for grant in rows.grants) == [ALICE, BOB]
    grant = next(grant for grant in rows.grants if grant.subject_ref == ALICE)
    assert grant.purposes == {"dibao.application"} and grant.categories == {"income", "housing"}
    assert not grant.revoked and grant.valid_until.tzinfo is not None
    assert rows.enrollments == [ActiveEnrollment(0, "dibao", "110101", DAY - timedelta(days=30))]
    async with database.autocommit() as connection:
        stored = (await connection.execute(select(ReplayEntry.jti))).scalars().all()
    assert stored == ["j-1"]


async def test_a_replayed_claim_is_refused(database: Database) -> None:
    checks = VerificationChecks(database, SqlReplayCache(database))
    await checks.read(claim("j-2"), [ALICE], ["mis"], enrollments_on=DAY)
    with pytest.raises(Replayed):
        await checks.read(claim("j-2"), [ALICE], ["mis"], enrollments_on=DAY)
    with pytest.raises(Replayed):  # a claim made alone (a request refused before its checks) is the same jti
        await checks.claim_alone(claim("j-2"))
    await checks.claim_alone(claim("j-3"))
    with pytest.raises(Replayed):
        await checks.read(claim("j-3"), [ALICE], ["mis"], enrollments_on=DAY)


async def test_without_a_claim_or_a_registry_day_only_what_is_asked_is_read(database: Database) -> None:
    checks = VerificationChecks(database, SqlReplayCache(database))
    rows = await checks.read(None, [ALICE, BOB, CAROL], ["mis"], enrollments_on=None)
    assert [grant.subject_ref for grant in rows.grants] == [ALICE]  # others granted to someone else
    assert rows.enrollments == []
    async with database.autocommit() as connection:
        assert (await connection.execute(select(ReplayEntry.jti))).first() is None
    # Another day: the ended enrollment was active then.
    earlier = await checks.read(None, [BOB], ["mis"], enrollments_on=DAY - timedelta(days=2))
    assert earlier.enrollments == [ActiveEnrollment(0, "tekun", "110101", DAY - timedelta(days=30))]
