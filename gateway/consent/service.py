"""Consent records in the database (docs/architecture.md §8): register with a signed receipt, revoke, search, check.

Nothing here is cached: every check reads the ``consents`` table, so a revocation committed through any hub
replica stops every verification that checks consent after the commit. The check is one query for the whole
household (``subject_ref IN (...) AND grantee IN (member, region)``), served by ``ix_consents_subject_grantee``,
read by :func:`gateway.meanstest.checks.read_checked_rows` as the verification flow reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.audit import AuditLog, ConsentGranted
from gateway.audit import ConsentRevoked as AuditConsentRevoked
from gateway.consent.coverage import covering_consents, status_at
from gateway.consent.models import Consent
from gateway.consent.receipt import receipt_claims, sign_receipt
from gateway.consent.rules import CHINA_STANDARD_TIME, ConsentTerms, age_on, check_terms
from gateway.consent.schema import ConsentRegistration, ConsentView
from gateway.envelope import HubKeys
from gateway.errors import (
    ConsentAlreadyRegistered,
    ConsentAlreadyRevoked,
    Forbidden,
    InvalidIdNumber,
    InvalidInput,
    NotFound,
)
from gateway.ids import parse_id_number
from gateway.ids.subject import subject_ref
from gateway.meanstest import checks
from gateway.members import MemberRecord
from gateway.store import Database
from gateway.store.at_rest import seal_at_rest

DEFAULT_POLICY_URL = "urn:hedui:policy:means-test-consent"
_PIPL_CHILD_AGE = 14  # PIPL Art. 28, 31: information of children under 14 is sensitive


class ConsentService:
    def __init__(
        self,
        database: Database,
        keys: HubKeys | Callable[[], HubKeys],
        *,
        hub_id: str,
        audit: AuditLog,
        policy_url: str = DEFAULT_POLICY_URL,
    ) -> None:
        """``keys`` may be the hub's key ring accessor, so receipts are signed with the key in force after a
        rotation (``hedui keys rotate``) without a restart. Every change writes its docs/architecture.md §9 entry to
        ``audit`` in the transaction that makes it, whoever calls (API, CLI import, sandbox seeding)."""
        self._database = database
        self._audit = audit
        self._keys: Callable[[], HubKeys] = keys if callable(keys) else (lambda: keys)
        self._hub_id = hub_id
        self._policy_url = policy_url

    async def register(
        self, registrations: Sequence[ConsentRegistration], *, controller: MemberRecord, now: datetime | None = None
    ) -> list[ConsentView]:
        """Store the consents all together or none, each with its signed receipt.

        ``controller`` is the authenticated member registering them; it may grant to itself or its region.
        Errors name the failing entry by position (``entry``), never by identity number.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        rows = []
        for entry, registration in enumerate(registrations):
            try:
                terms = check_terms(registration, now=now)
            except InvalidInput as exc:
                raise type(exc)(exc.detail, entry=entry, **exc.extensions) from None
            if registration.grantee not in grantees_of(controller):
                raise Forbidden("a member may grant consent only to itself or its own region", entry=entry)
            rows.append(self._row(terms, controller=controller.member_id, now=now))
        await self._refuse_duplicates(rows)
        async with self._database.session() as session:
            try:
                async with session.begin():
                    # The entries first: on SQLite their sequencer update takes the write lock.
                    await self._audit.append_within(
                        session, *(_granted(row, actor=controller.member_id) for row in rows)
                    )
                    session.add_all(rows)
            except IntegrityError as exc:
                # Another replica registered the same form between our duplicate check and this insert.
                raise ConsentAlreadyRegistered("this signed form is already registered for a person") from exc
        return [_view(row, now) for row in rows]

    async def revoke(
        self, consent_id: str, *, reason: str, by: MemberRecord, now: datetime | None = None
    ) -> ConsentView:
        """Revoke a consent of which ``by`` is the controller or the grantee; effective for every consent
        check that reads after this commits. Unknown and foreign consents are the same :class:`NotFound`."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        manageable = or_(Consent.controller == by.member_id, Consent.grantee.in_(grantees_of(by)))
        async with self._database.session() as session, session.begin():
            # One conditional UPDATE, so that two replicas revoking at once cannot both succeed.
            result = cast(
                CursorResult[Any],
                await session.execute(
                    update(Consent)
                    .where(Consent.consent_id == consent_id, Consent.status == "active", manageable)
                    .values(status="revoked", revoked_at=now, revoked_by=by.member_id, revocation_reason=reason)
                ),
            )
            row = await session.scalar(
                select(Consent)
                .where(Consent.consent_id == consent_id, manageable)
                .execution_options(populate_existing=True)
            )
            if row is None:
                raise NotFound("no such consent for this member")
            if result.rowcount == 0:
                raise ConsentAlreadyRevoked("the consent was revoked before")
            await self._audit.append_within(
                session,
                AuditConsentRevoked(
                    actor=by.member_id, consent_id=row.consent_id, subject_refs=(row.subject_ref,), reason="revoked"
                ),
            )
        return _view(row, now)

    async def search(self, id_number: str, *, member: MemberRecord, now: datetime | None = None) -> list[ConsentView]:
        """A person's consents that ``member`` registered or was granted, newest signature first."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        ref = subject_ref(self._keys().subject_pepper, parse_id_number(id_number).value)
        async with self._database.session() as session:
            rows = await session.scalars(
                select(Consent)
                .where(
                    Consent.subject_ref == ref,
                    or_(Consent.grantee.in_(grantees_of(member)), Consent.controller == member.member_id),
                )
                .order_by(Consent.signed_at.desc(), Consent.consent_id)
            )
            return [_view(row, now) for row in rows]

    async def check(
        self,
        id_numbers: Sequence[str],
        *,
        purpose: str,
        categories: Collection[str],
        requester: MemberRecord,
        at: datetime | None = None,
    ) -> tuple[str, ...]:
        """The consent ids relied on, one per household member in order; raises ``ConsentMissing``,
        ``ConsentRevoked`` or ``ConsentExpired`` (403) naming failing positions (see ``covering_consents``)."""
        at = (at or datetime.now(UTC)).astimezone(UTC)
        refs = []
        for index, raw in enumerate(id_numbers):
            try:
                refs.append(subject_ref(self._keys().subject_pepper, parse_id_number(raw).value))
            except InvalidIdNumber as exc:
                raise InvalidIdNumber(f"household member {index}: {exc.detail}", member_index=index) from None
        # The verification flow's reader and decision (imported as a module: it imports this package's modules).
        rows = await checks.read_checked_rows(self._database, refs, grantees_of(requester), enrollments_on=None)
        return covering_consents(refs, rows.grants, purpose=purpose, categories=categories, at=at)

    def _row(self, terms: ConsentTerms, *, controller: str, now: datetime) -> Consent:
        registration = terms.registration
        consent_id = str(uuid.uuid4())
        guardian = terms.guardian
        row = Consent(
            consent_id=consent_id,
            subject_ref=subject_ref(self._keys().subject_pepper, terms.subject.value),
            subject_sealed=self._seal(consent_id, "subject", terms.subject.value),
            controller=controller,
            grantee=registration.grantee,
            purposes=list(registration.purposes),
            categories=list(registration.categories),
            legal_basis=registration.legal_basis,
            collection_method=registration.collection_method,
            evidence_sha256=registration.evidence.sha256,
            evidence_ref=registration.evidence.ref,
            guardian_ref=None if guardian is None else subject_ref(self._keys().subject_pepper, guardian.value),
            guardian_sealed=None if guardian is None else self._seal(consent_id, "guardian", guardian.value),
            guardian_relation=None if registration.guardian is None else registration.guardian.relation,
            signed_at=terms.signed_at,
            valid_from=terms.valid_from,
            valid_until=terms.valid_until,
            status="active",
            registered_at=now,
            revoked_at=None,
            revoked_by=None,
            revocation_reason=None,
        )
        signed_day = terms.signed_at.astimezone(CHINA_STANDARD_TIME).date()
        claims = receipt_claims(
            row,
            issuer=self._hub_id,
            policy_url=self._policy_url,
            under_14=age_on(terms.subject.birth_date, signed_day) < _PIPL_CHILD_AGE,
        )
        row.receipt = sign_receipt(claims, self._keys().signing_key)
        return row

    def _seal(self, consent_id: str, role: str, id_number: str) -> bytes:
        # The row id and the field are the associated data: a ciphertext moved to another row or field
        # does not open (NIST SP 800-38D §5.2.1.1).
        return seal_at_rest(
            self._keys().storage_key, id_number.encode("ascii"), f"consent/{consent_id}/{role}".encode()
        )

    async def _refuse_duplicates(self, rows: Sequence[Consent]) -> None:
        pairs = [(row.subject_ref, row.evidence_sha256) for row in rows]
        repeated = [entry for entry, pair in enumerate(pairs) if pair in pairs[:entry]]
        if repeated:
            raise ConsentAlreadyRegistered("the same person and signed form appear twice", entries=repeated)
        async with self._database.session() as session:
            result = await session.execute(
                select(Consent.subject_ref, Consent.evidence_sha256).where(
                    Consent.subject_ref.in_({ref for ref, _ in pairs}),
                    Consent.evidence_sha256.in_({digest for _, digest in pairs}),
                )
            )
            stored = {(ref, digest) for ref, digest in result}
        registered = [entry for entry, pair in enumerate(pairs) if pair in stored]
        if registered:
            raise ConsentAlreadyRegistered("this signed form is already registered for a person", entries=registered)


def _granted(row: Consent, *, actor: str) -> ConsentGranted:
    return ConsentGranted(
        actor=actor,
        consent_id=row.consent_id,
        subject_refs=(row.subject_ref,),
        grantee=row.grantee,
        purposes=tuple(row.purposes),
        categories=tuple(row.categories),
        collection_method=row.collection_method,
        evidence_digest=row.evidence_sha256,
        valid_from=_utc(row.valid_from).date(),
        valid_until=_utc(row.valid_until).date(),
    )


def grantees_of(member: MemberRecord) -> list[str]:
    """Whom a consent must be granted to for ``member`` to rely on it: the member itself or its region."""
    return [member.member_id] if member.region is None else [member.member_id, member.region]


def _utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _view(row: Consent, now: datetime) -> ConsentView:
    valid_until = _utc(row.valid_until)
    guardian = None if row.guardian_ref is None else {"ref": row.guardian_ref, "relation": row.guardian_relation}
    return ConsentView.model_validate(
        {
            "consent_id": row.consent_id,
            "subject_ref": row.subject_ref,
            "controller": row.controller,
            "grantee": row.grantee,
            "purposes": row.purposes,
            "categories": row.categories,
            "legal_basis": row.legal_basis,
            "collection_method": row.collection_method,
            "evidence": {"sha256": row.evidence_sha256, "ref": row.evidence_ref},
            "guardian": guardian,
            "signed_at": _utc(row.signed_at),
            "valid_from": _utc(row.valid_from),
            "valid_until": valid_until,
            "status": status_at(revoked=row.status == "revoked", valid_until=valid_until, at=now),
            "registered_at": _utc(row.registered_at),
            "revoked_at": None if row.revoked_at is None else _utc(row.revoked_at),
            "revoked_by": row.revoked_by,
            "revocation_reason": row.revocation_reason,
            "receipt": row.receipt,
        }
    )
