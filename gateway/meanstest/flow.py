"""The verification flow of DESIGN §6, in order: authorise the requester, validate the household, fan out
to the agencies, derive indicators, build, store and seal the report.

(Consent, audit and policy steps slot in between as their issues land; each is its own module.)
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import rfc8785

from adapters.base import QueryMember, SourceQuery
from gateway.auth import Caller, PurposeCatalog
from gateway.broker import Broker
from gateway.envelope import HubKeys, OpenedMessage, SealedMessage, seal
from gateway.errors import Forbidden, NotFound
from gateway.meanstest.indicators import compose_household
from gateway.meanstest.report import build_report
from gateway.meanstest.request import parse_verification_request, validate_household
from gateway.members import MemberRegistry
from gateway.metrics import HubMetrics
from gateway.store import Database
from gateway.store.at_rest import open_at_rest, seal_at_rest
from gateway.store.models import Verification


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"
    title = "This member's role may not use this endpoint"


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
    ) -> None:
        self._hub_id = hub_id
        self._database = database
        self._keys = keys
        self._members = members
        self._broker = broker
        self._metrics = metrics
        self._purposes = purposes

    async def verify(
        self, opened: OpenedMessage, caller: Caller, *, as_of: date | None = None
    ) -> tuple[str, SealedMessage]:
        """Run one verification for ``caller`` (who signed ``opened``); returns its id and the sealed report."""
        started = time.perf_counter()
        if caller.role != "local_mis":
            raise RoleNotAllowed("only a local MIS may request verifications")
        request = parse_verification_request(opened.body)
        self._purposes.authorize(
            role=caller.role,
            member_region=caller.region,
            purpose=request.purpose,
            region=request.region,
            categories=request.categories,
        )
        request = validate_household(request)
        requester = caller
        verification_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with self._database.session() as session, session.begin():
            session.add(
                Verification(
                    verification_id=verification_id,
                    requester=requester.member_id,
                    case_id=request.case_id,
                    purpose=request.purpose,
                    region=request.region,
                    status="pending",
                    created_at=now,
                    completed_at=None,
                    report_digest=None,
                    report_sealed=None,
                )
            )

        query = SourceQuery(
            verification_id=verification_id,
            purpose=request.purpose,
            region=request.region,
            members=tuple(
                QueryMember(index=i, id_number=m.id_number, name=m.name, relation=m.relation)
                for i, m in enumerate(request.household)
            ),
            as_of=as_of or now.date(),
        )
        outcomes = await self._broker.fan_out(query, request.categories)
        facts = compose_household(
            query.members, [outcome.result for outcome in outcomes if outcome.result is not None], query.as_of
        )
        report = build_report(verification_id=verification_id, request=request, outcomes=outcomes, facts=facts)
        await self._store_report(verification_id, report)
        self._metrics.verifications.labels(request.purpose, report["status"]).inc()
        sealed = await self._seal_for(requester.member_id, report, opened)
        self._metrics.verification_seconds.observe(time.perf_counter() - started)
        return verification_id, sealed

    async def report(self, caller: Caller, verification_id: str, opened: OpenedMessage | None) -> SealedMessage:
        """The stored report, to its requester only (others get the same 404 as for an unknown id)."""
        async with self._database.session() as session:
            row = await session.get(Verification, verification_id)
        if row is None or row.requester != caller.member_id or row.report_sealed is None:
            raise NotFound("no such verification for this requester")
        plaintext = open_at_rest(self._keys().storage_key, row.report_sealed, verification_id.encode())
        return await self._seal_for(caller.member_id, json.loads(plaintext), opened)

    async def _store_report(self, verification_id: str, report: dict[str, Any]) -> None:
        canonical = rfc8785.dumps(report)  # RFC 8785 JCS: the digest is reproducible by any verifier
        async with self._database.session() as session, session.begin():
            row = await session.get(Verification, verification_id)
            assert row is not None
            row.status = report["status"]
            row.completed_at = datetime.now(UTC)
            row.report_digest = hashlib.sha256(canonical).hexdigest()
            row.report_sealed = seal_at_rest(self._keys().storage_key, canonical, verification_id.encode())

    async def _seal_for(self, member_id: str, body: dict[str, Any], opened: OpenedMessage | None) -> SealedMessage:
        return seal(
            body,
            issuer=self._hub_id,
            audience=member_id,
            signing_key=self._keys().signing_key,
            recipient_key=await self._members.encryption_key(member_id),
            request_jws=opened.jws if opened is not None else None,
        )
