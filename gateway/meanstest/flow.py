"""The verification flow of docs/architecture.md §6, in order: authorise the requester, validate identity numbers, check
every member's consent, audit ``verification.requested`` (committed before any agency is contacted), fan
out to the agencies and the registry, derive indicators, decide by the region's policy, store the report
encrypted, audit ``verification.completed`` and seal the answer."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from adapters.base import QueryMember, SourceQuery, SourceResult
from gateway import canonical_json
from gateway.audit import (
    AuditLog,
    SourceQueried,
    VerificationAbandoned,
    VerificationCompleted,
    VerificationRejected,
    VerificationRequested,
)
from gateway.auth import Caller, PurposeCatalog
from gateway.broker import Broker
from gateway.broker.quota import Priority
from gateway.consent import grantees_of
from gateway.consent.coverage import covering_consents
from gateway.edge.attestation import digest_hex, facts_digest
from gateway.envelope import HubKeys, JtiClaim, OpenedMessage, SealedMessage, seal
from gateway.errors import ConsentMissing, Forbidden, InvalidIdNumber, NotFound, PolicyNotFound, RoleNotAllowed
from gateway.ids import parse_id_number, subject_ref
from gateway.meanstest.checks import VerificationChecks
from gateway.meanstest.indicators import compose_household
from gateway.meanstest.matching import match_programs
from gateway.meanstest.policy import Policy, PolicyInputs, PolicySet, decide
from gateway.meanstest.report import build_report
from gateway.meanstest.request import VerificationRequest, parse_verification_request, validate_household
from gateway.members import MemberRecord, MemberRegistry
from gateway.metrics import HubMetrics
from gateway.registry import DEFAULT_FORBIDDEN_OVERLAPS
from gateway.registry.duplicates import ActiveEnrollment, find_duplicates, programme_for_purpose
from gateway.store import Database, verifications
from gateway.store.at_rest import open_at_rest, seal_at_rest

_DIGEST = re.compile(r"[0-9a-f]{64}")
log = logging.getLogger(__name__)


class _Raced(Exception):
    """Another replica completed or closed one of the verifications meanwhile: roll back, retry later."""


class Requester(Protocol):
    """Who a verification is run for: an authenticated :class:`~gateway.auth.Caller` or a registered
    :class:`~gateway.members.MemberRecord` (what a batch worker acts for)."""

    @property
    def member_id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def region(self) -> str | None: ...


class VerificationService:
    def __init__(
        self,
        *,
        hub_id: str,
        database: Database,
        keys: Callable[[], HubKeys],
        members: MemberRegistry,
        broker: Broker,
        metrics: HubMetrics,
        purposes: PurposeCatalog,
        checks: VerificationChecks,
        policies: PolicySet,
        audit: AuditLog,
    ) -> None:
        self._hub_id = hub_id
        self._database = database
        self._keys = keys
        self._members = members
        self._broker = broker
        self._metrics = metrics
        self._purposes = purposes
        self._checks = checks
        self._policies = policies
        self._audit = audit

    async def verify(
        self, opened: OpenedMessage, caller: Caller, *, jti_claim: JtiClaim | None, as_of: date | None = None
    ) -> tuple[str, SealedMessage]:
        """Run one verification for ``caller`` (who signed ``opened``); returns its id and the sealed report.

        The envelope part only: :meth:`run` on the opened body (the request digest is SHA-256 of the inner
        JWS), then the report sealed to the requester and bound to the request (docs/architecture.md §4).
        ``jti_claim`` is the envelope's replay claim when it was opened without the replay cache: claimed in
        the checks' round trip (see :meth:`run`).
        """
        started = time.perf_counter()
        request_digest = hashlib.sha256(opened.jws).hexdigest()
        verification_id, report = await self.run(
            opened.body, caller, request_digest=request_digest, as_of=as_of, jti_claim=jti_claim
        )
        sealed = await self._seal_for(caller.member_id, report, opened)
        self._metrics.verification_seconds.observe(time.perf_counter() - started)
        return verification_id, sealed

    async def run(
        self,
        body: Mapping[str, Any],
        requester: Requester,
        *,
        request_digest: str,
        as_of: date | None = None,
        verification_id: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
        jti_claim: JtiClaim | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The envelope-free core of a verification: one household ``body`` for ``requester``; returns the
        verification id and the report (a JSON-ready dict).

        This is the one code path of every verification: :meth:`verify` (the interactive API) calls it and
        seals what it returns; batch workers call it directly with the member they act for and a
        ``request_digest`` of their own (a lowercase 64-hex SHA-256 of whatever identifies the request, e.g.
        of the batch item's canonical bytes). It stores the report and writes the audit entries exactly as
        the interactive path does. The steps of docs/architecture.md §6 in order; nothing reaches an agency unless the
        requester is authorised, every member's consent holds and ``verification.requested`` is committed
        to the audit log. Refusals raise the problem of :mod:`gateway.errors` and are audited.
        ``verification_id`` (a new UUID by default) lets a batch worker name an attempt before it starts, so
        that an attempt cut short by a crash can be closed in the log (``verification.abandoned``);
        ``priority`` orders its agency calls under the quotas (batch workers pass ``Priority.BATCH``).

        ``jti_claim``, the request envelope's replay claim when its opener left it to the flow, is claimed in
        the checks' one round trip with the consent and registry reads (docs/performance.md, issue 12); a
        replay is refused with :class:`~gateway.errors.Replayed` before anything is read or audited, and a
        request refused before its checks claims it by itself first, so a replay is refused as one either way.
        """
        if not _DIGEST.fullmatch(request_digest):
            raise ValueError("request_digest must be a lowercase hex SHA-256")
        request = await self._authorised_request(body, requester, request_digest, jti_claim)
        try:
            member = await self._members.get(requester.member_id)
        except Exception:
            await self._checks.claim_alone(jti_claim)
            raise
        pepper = self._keys().subject_pepper
        # Identity numbers were parsed and normalised once (validate_household); from here on only their refs.
        subject_refs = tuple(subject_ref(pepper, person.id_number) for person in request.household)
        verification_id = verification_id or str(uuid.uuid4())
        now = datetime.now(UTC)
        as_of = as_of or now.date()
        policy = self._policy_for(request.region, request.purpose, as_of)
        programme = programme_for_purpose(request.purpose)
        consent_ids, enrollments = await self._checked(
            request, member, subject_refs, request_digest, jti_claim, now, as_of if programme is not None else None
        )
        if programme is not None:
            overlaps = (
                {policy.program: set(policy.incompatible_with)} if policy is not None else DEFAULT_FORBIDDEN_OVERLAPS
            )
            findings = find_duplicates(enrollments, programme, request.region, overlaps)
        else:
            findings = []
        # The fields every entry of this verification shares (docs/architecture.md §9): who, which case, why,
        # about whom.
        about: dict[str, Any] = {
            "actor": member.member_id,
            "operator": request.operator,
            "verification_id": verification_id,
            "case_id": request.case_id,
            "purpose": request.purpose,
            "region": request.region,
            "subject_refs": subject_refs,
            "categories": tuple(request.categories),
        }
        # Its row goes in with the entry (status ``requested``), so a crash before completion leaves a row
        # the sweeper closes as abandoned (issue 11 #8).
        leaf_index = await self._audit.append_all(
            (VerificationRequested(**about, consent_ids=consent_ids, request_digest=request_digest),),
            alongside=(
                verifications.write_requested,
                verifications.Requested(
                    verification_id, member.member_id, request.case_id, request.purpose, request.region, now
                ),
            ),
        )

        query = SourceQuery(
            verification_id=verification_id,
            purpose=request.purpose,
            region=request.region,
            members=tuple(
                QueryMember(index=i, id_number=m.id_number, name=m.name, relation=m.relation)
                for i, m in enumerate(request.household)
            ),
            as_of=as_of,
        )
        outcomes = await self._broker.fan_out(query, request.categories, priority)
        facts = compose_household(
            query.members, [outcome.result for outcome in outcomes if outcome.result is not None], query.as_of
        )
        report = build_report(
            verification_id=verification_id,
            request=request,
            outcomes=outcomes,
            facts=facts,
            duplicates=findings,
            consent_ids=consent_ids,
        )
        if policy is not None:
            inputs = PolicyInputs.of(
                report["indicators"], report["flags"], members=report["household"]["members"], as_of=query.as_of
            )
            report.update(decide(policy, inputs).report_fields())
        report["audit"] = {"leaf_index": leaf_index, "log": self._audit.origin}
        canonical = canonical_json.dumps(report)  # RFC 8785 JCS: the digest is reproducible by any verifier
        report_digest = hashlib.sha256(canonical).hexdigest()
        # The report is stored in the transaction of its completion entry: neither exists without the other.
        await self._audit.append_all(
            (
                *(
                    SourceQueried(
                        actor=member.member_id,
                        verification_id=verification_id,
                        purpose=request.purpose,
                        source=outcome.adapter,
                        subject_refs=subject_refs,
                        categories=(outcome.category,),
                        outcome=outcome.status,
                        latency_ms=outcome.latency_ms,
                        facts_sha256=_attested_facts_sha256(outcome.result),
                    )
                    for outcome in outcomes
                ),
                VerificationCompleted(
                    **about,
                    outcome=report["status"],
                    recommendation=report.get("decision", {}).get("recommendation"),
                    report_digest=report_digest,
                ),
            ),
            alongside=(
                verifications.write_completed,
                verifications.Completed(
                    verification_id,
                    report["status"],
                    datetime.now(UTC),
                    report_digest,
                    seal_at_rest(self._keys().storage_key, canonical, verification_id.encode()),
                ),
            ),
        )
        self._metrics.verifications.labels(request.purpose, report["status"]).inc()
        return verification_id, report

    async def close_abandoned(self, *, older_than_s: float, now: datetime | None = None, limit: int = 500) -> int:
        """Close verifications that were requested more than ``older_than_s`` ago and never completed (their
        hub process ended in between): each gets a ``verification.abandoned`` entry, in the transaction that
        marks its row abandoned; returns how many were closed. Run at start-up and periodically; replicas may
        run it at once (a row another closed meanwhile makes this round a no-op, retried next time).

        ``older_than_s`` must exceed the longest a verification can run, or a slow one would be closed while
        it still runs (its completion is then logged but its report not stored).
        """
        now = now or datetime.now(UTC)
        stale = await verifications.open_since_before(self._database, now - timedelta(seconds=older_than_s), limit)
        if not stale:
            return 0
        requested = {item.leaf_index: item.entry for item in await self._audit.entries_at([leaf for _, leaf in stale])}
        entries = []
        for verification_id, leaf in stale:
            entry = requested[leaf]
            entries.append(
                VerificationAbandoned(
                    actor=entry["actor"],
                    operator=entry.get("operator"),
                    verification_id=verification_id,
                    case_id=entry["case_id"],
                    purpose=entry["purpose"],
                    region=entry["region"],
                    subject_refs=tuple(entry["subject_refs"]),
                    categories=tuple(entry["categories"]),
                    reason="not_completed",
                    requested_leaf=leaf,
                )
            )
        ids = [verification_id for verification_id, _ in stale]
        try:
            async with self._database.session() as session, session.begin():
                # The entries first: on SQLite that takes the write lock before anything is read.
                await self._audit.append_within(session, *entries)
                if await verifications.mark_abandoned(session, ids, now) != len(ids):
                    raise _Raced()
        except _Raced:
            return 0
        log.warning("closed %d verifications left open by a stopped hub process as abandoned", len(ids))
        return len(ids)

    async def _authorised_request(
        self, body: Mapping[str, Any], caller: Requester, request_digest: str, jti_claim: JtiClaim | None
    ) -> VerificationRequest:
        """Role, purpose, region and categories (docs/architecture.md §5), then identity numbers; refusals are
        audited. Each refusal claims ``jti_claim`` first: a replayed envelope is refused as a replay, unaudited."""
        try:
            request = parse_verification_request(dict(body))
        except Exception:
            await self._checks.claim_alone(jti_claim)
            raise
        try:
            if caller.role != "local_mis":
                raise RoleNotAllowed("only a local MIS may request verifications")
            self._purposes.authorize(
                role=caller.role,
                member_region=caller.region,
                purpose=request.purpose,
                region=request.region,
                categories=request.categories,
            )
        except Forbidden as exc:
            await self._checks.claim_alone(jti_claim)
            await self._audit_rejection(caller.member_id, request, exc.code, request_digest)
            raise
        try:
            return validate_household(request)
        except InvalidIdNumber as exc:
            await self._checks.claim_alone(jti_claim)
            # An authorised request about people, refused: audited with every member whose number is valid, so
            # that their subject access reports show it (issue 11 defect 1).
            await self._audit_rejection(
                caller.member_id, request, exc.code, request_digest, self._valid_subject_refs(request)
            )
            raise
        except Exception:
            await self._checks.claim_alone(jti_claim)
            raise

    def _valid_subject_refs(self, request: VerificationRequest) -> tuple[str, ...]:
        pepper = self._keys().subject_pepper
        refs = []
        for person in request.household:
            try:
                refs.append(subject_ref(pepper, parse_id_number(person.id_number).value))
            except InvalidIdNumber:
                continue
        return tuple(dict.fromkeys(refs))

    async def _checked(
        self,
        request: VerificationRequest,
        requester: MemberRecord,
        subject_refs: tuple[str, ...],
        request_digest: str,
        jti_claim: JtiClaim | None,
        now: datetime,
        registry_day: date | None,
    ) -> tuple[tuple[str, ...], list[ActiveEnrollment]]:
        """The checks' one round trip (:mod:`gateway.meanstest.checks`): the replay claim, then docs/architecture.md
        §8: every member must have authorised this purpose and these categories before anything about them is
        fetched. Fail closed: a refusal is audited and ends the request. Returns the consent ids relied on and
        the household's enrollments active on ``registry_day`` (none read when None: a purpose of no registry
        programme)."""
        rows = await self._checks.read(
            jti_claim,
            subject_refs,
            grantees_of(requester),
            enrollments_on=registry_day,
        )
        try:
            consent_ids = covering_consents(
                subject_refs, rows.grants, purpose=request.purpose, categories=request.categories, at=now
            )
        except ConsentMissing as exc:
            self._metrics.consent_denials.labels(exc.code).inc()
            await self._audit_rejection(requester.member_id, request, exc.code, request_digest, subject_refs)
            raise
        return consent_ids, rows.enrollments

    async def _audit_rejection(
        self,
        actor: str,
        request: VerificationRequest,
        reason: str,
        request_digest: str,
        subject_refs: tuple[str, ...] = (),
    ) -> None:
        """``verification.rejected``: refusals are evidence too (who asked about whom, and why not)."""
        await self._audit.append(
            VerificationRejected(
                actor=actor,
                operator=request.operator,
                case_id=request.case_id,
                purpose=request.purpose,
                region=request.region,
                subject_refs=subject_refs,
                categories=tuple(request.categories),
                reason=reason,
                request_digest=request_digest,
            )
        )

    async def report(self, caller: Caller, verification_id: str, opened: OpenedMessage | None) -> SealedMessage:
        """The stored report, sealed to its requester (bound to ``opened`` when the read came in an envelope)."""
        return await self._seal_for(caller.member_id, await self.stored_report(caller, verification_id), opened)

    async def stored_report(self, caller: Caller, verification_id: str) -> dict[str, Any]:
        """A stored report of ``caller``; another member's gets the same 404 as an unknown id."""
        row = await verifications.stored_report(self._database, verification_id)
        if row is None or row.requester != caller.member_id or row.report_sealed is None:
            raise NotFound("no such verification for this requester")
        report: dict[str, Any] = json.loads(
            open_at_rest(self._keys().storage_key, row.report_sealed, verification_id.encode())
        )
        return report

    async def match(self, caller: Caller, verification_id: str) -> dict[str, Any]:
        """智能救助方案分析: the verified indicators of a stored report against every programme of its region."""
        report = await self.stored_report(caller, verification_id)
        as_of = datetime.strptime(report["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).date()
        inputs = PolicyInputs.of(
            report["indicators"], report["flags"], members=report["household"]["members"], as_of=as_of
        )
        matched = match_programs(self._policies, report["region"], inputs, as_of).as_dict()
        return {"verification_id": verification_id, "case_id": report["case_id"], **matched}

    def _policy_for(self, region: str, purpose: str, on: date) -> Policy | None:
        """The means-test policy in force for this purpose, or None (e.g. temporary assistance: no decision)."""
        try:
            return self._policies.for_purpose(region, purpose, on)
        except PolicyNotFound:
            return None

    async def _seal_for(self, member_id: str, body: dict[str, Any], opened: OpenedMessage | None) -> SealedMessage:
        return seal(
            body,
            issuer=self._hub_id,
            audience=member_id,
            signing_key=self._keys().signing_key,
            recipient_key=await self._members.encryption_key(member_id),
            request_jws=opened.jws if opened is not None else None,
        )


def _attested_facts_sha256(result: SourceResult | None) -> str | None:
    """The digest an edge's attestation signs (checked against these facts when they arrived), in hex."""
    if result is None or result.attestation is None:
        return None
    return digest_hex(facts_digest(result.facts))
