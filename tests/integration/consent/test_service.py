"""Consent records in a real database (SQLite file and PostgreSQL): register, receipts, check, revoke, search."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws
from sqlalchemy import select

from gateway.audit import AuditLog
from gateway.consent import ConsentService, subject_ref, verify_receipt
from gateway.consent.models import Consent
from gateway.envelope import HubKeys
from gateway.errors import (
    ConsentAlreadyRegistered,
    ConsentAlreadyRevoked,
    ConsentExpired,
    ConsentMissing,
    ConsentRevoked,
    Forbidden,
    InvalidInput,
    NotFound,
)
from gateway.store import Database
from gateway.store.at_rest import open_at_rest
from tests.support import statements_sent

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import ConsentKit

PURPOSE = "dibao.application"
ALL = ("hukou", "civil_affairs", "tax", "housing", "banking")


def household(kit: ConsentKit) -> list[str]:
    return [kit.id_number(45, sequence=111), kit.id_number(43, sequence=222), kit.id_number(12, sequence=333)]


async def register_household(kit: ConsentKit, service: ConsentService, **changes: Any) -> list[str]:
    head, spouse, child = household(kit)
    form = {"sha256": "5a" * 32, "ref": "MIS-110101/2026/000777"}
    registrations = [
        kit.registration(id_number=head, evidence=form, **changes),
        kit.registration(id_number=spouse, evidence=form, **changes),
        kit.registration(
            id_number=child,
            evidence=form,
            collection_method="guardian",
            guardian={"id_number": head, "relation": "parent"},
            **changes,
        ),
    ]
    views = await service.register(registrations, controller=kit.mis_member)
    return [view.consent_id for view in views]


async def test_registered_household_passes_the_check(kit: ConsentKit, service: ConsentService) -> None:
    ids = await register_household(kit, service)
    relied_on = await service.check(household(kit), purpose=PURPOSE, categories=ALL, requester=kit.mis_member)
    assert list(relied_on) == ids


async def test_receipts_verify_with_jwcrypto_and_the_hub_jwks(
    kit: ConsentKit, service: ConsentService, hub_keys: HubKeys
) -> None:
    head, _, child = household(kit)
    await register_household(kit, service)
    views = await service.search(child, member=kit.mis_member)
    assert len(views) == 1
    view = views[0]
    published = cjwk.JWKSet.from_json(json.dumps(hub_keys.public_jwks()))
    checked = cjws.JWS()
    checked.deserialize(view.receipt)
    checked.verify(published.get_key(hub_keys.signing_key.kid), alg="Ed25519")
    claims = json.loads(checked.payload)
    assert claims == verify_receipt(view.receipt, hub_keys.public_jwks())
    assert claims["consentReceiptID"] == view.consent_id
    assert claims["piiPrincipalId"] == view.subject_ref == subject_ref(hub_keys.subject_pepper, child)
    assert claims["collectionMethod"] == "guardian"
    assert claims["guardian"] == {"ref": subject_ref(hub_keys.subject_pepper, head), "relation": "parent"}
    assert claims["sensitive"] is True and "minor_under_14" in claims["spiCat"]
    assert claims["validity"]["validUntil"] == int(view.valid_until.timestamp())
    assert child not in checked.payload.decode() and head not in checked.payload.decode()


async def test_identity_numbers_are_stored_only_as_hmac_and_ciphertext(
    kit: ConsentKit, service: ConsentService, database: Database, hub_keys: HubKeys
) -> None:
    head, _, child = household(kit)
    await register_household(kit, service)
    async with database.session() as session:
        rows = {row.subject_ref: row for row in await session.scalars(select(Consent))}
    row = rows[subject_ref(hub_keys.subject_pepper, child)]
    for value in vars(row).values():
        assert child not in str(value) and head not in str(value)
    aad = f"consent/{row.consent_id}/subject".encode()
    assert open_at_rest(hub_keys.storage_key, row.subject_sealed, aad).decode() == child
    assert row.guardian_sealed is not None
    guardian_aad = f"consent/{row.consent_id}/guardian".encode()
    assert open_at_rest(hub_keys.storage_key, row.guardian_sealed, guardian_aad).decode() == head
    assert row.guardian_ref == subject_ref(hub_keys.subject_pepper, head)


async def test_the_check_is_one_query_for_the_household(
    kit: ConsentKit, service: ConsentService, database: Database
) -> None:
    await register_household(kit, service)
    with statements_sent(database) as statements:
        await service.check(household(kit), purpose=PURPOSE, categories=ALL, requester=kit.mis_member)
    assert statements == ["SELECT"]


async def test_a_missing_member_is_refused_by_position(kit: ConsentKit, service: ConsentService) -> None:
    await register_household(kit, service)
    newcomer = kit.id_number(20, sequence=444)
    with pytest.raises(ConsentMissing) as caught:
        await service.check([*household(kit)[:2], newcomer], purpose=PURPOSE, categories=ALL, requester=kit.mis_member)
    assert (caught.value.status, caught.value.code) == (403, "consent_missing")
    assert caught.value.extensions["members"] == [{"index": 2, "reason": "consent_missing"}]
    assert newcomer not in caught.value.detail


async def test_purpose_and_categories_must_be_named(kit: ConsentKit, service: ConsentService) -> None:
    number = kit.id_number(40)
    await service.register([kit.registration(id_number=number, categories=["tax"])], controller=kit.mis_member)
    assert await service.check([number], purpose=PURPOSE, categories=["tax"], requester=kit.mis_member)
    with pytest.raises(ConsentMissing):
        await service.check([number], purpose="tekun.application", categories=["tax"], requester=kit.mis_member)
    with pytest.raises(ConsentMissing):
        await service.check([number], purpose=PURPOSE, categories=["banking"], requester=kit.mis_member)


async def test_grants_to_a_member_or_its_region(kit: ConsentKit, service: ConsentService) -> None:
    own, regional = kit.id_number(40, sequence=101), kit.id_number(41, sequence=103)
    await service.register(
        [kit.registration(id_number=own), kit.registration(id_number=regional, grantee="110101")],
        controller=kit.mis_member,
    )
    check = service.check
    assert await check([own, regional], purpose=PURPOSE, categories=ALL, requester=kit.mis_member)
    # Another system of the same district is covered by the regional grant only.
    assert await check([regional], purpose=PURPOSE, categories=ALL, requester=kit.neighbour)
    with pytest.raises(ConsentMissing):
        await check([own], purpose=PURPOSE, categories=ALL, requester=kit.neighbour)
    with pytest.raises(ConsentMissing):
        await check([regional], purpose=PURPOSE, categories=ALL, requester=kit.stranger)


async def test_a_member_grants_only_to_itself_or_its_region(kit: ConsentKit, service: ConsentService) -> None:
    for grantee in (kit.stranger.member_id, "510502"):
        with pytest.raises(Forbidden) as caught:
            await service.register([kit.registration(grantee=grantee)], controller=kit.mis_member)
        assert caught.value.extensions["entry"] == 0


async def test_rule_errors_name_the_batch_entry(kit: ConsentKit, service: ConsentService) -> None:
    with pytest.raises(InvalidInput) as caught:
        await service.register(
            [
                kit.registration(),
                kit.registration(
                    id_number=kit.id_number(10, sequence=201), evidence={"sha256": "cd" * 32, "ref": "form-2"}
                ),
            ],
            controller=kit.mis_member,
        )
    assert (caught.value.extensions["entry"], caught.value.extensions["field"]) == (1, "collection_method")
    assert await service.search(kit.id_number(40), member=kit.mis_member) == []  # nothing stored


async def test_a_form_is_registered_once_per_person(kit: ConsentKit, service: ConsentService) -> None:
    await register_household(kit, service)
    with pytest.raises(ConsentAlreadyRegistered) as caught:
        await register_household(kit, service)
    assert caught.value.extensions["entries"] == [0, 1, 2]
    twice = kit.registration()
    with pytest.raises(ConsentAlreadyRegistered) as repeated:
        await service.register([twice, twice], controller=kit.mis_member)
    assert repeated.value.extensions["entries"] == [1]


async def test_expired_consent_is_refused(kit: ConsentKit, service: ConsentService) -> None:
    number = kit.id_number(40)
    view = (await service.register([kit.registration(id_number=number)], controller=kit.mis_member))[0]
    later = view.valid_until + timedelta(seconds=1)
    with pytest.raises(ConsentExpired) as caught:
        await service.check([number], purpose=PURPOSE, categories=ALL, requester=kit.mis_member, at=later)
    assert caught.value.extensions["members"] == [{"index": 0, "reason": "consent_expired"}]
    assert (await service.search(number, member=kit.mis_member, now=later))[0].status == "expired"


async def test_revocation_through_one_engine_is_honoured_by_another(
    kit: ConsentKit, database_url: str, hub_keys: HubKeys, audit: AuditLog
) -> None:
    """Two hub replicas: separate engines (and connection pools) on one database."""
    replica_a, replica_b = Database(database_url), Database(database_url)
    try:
        service_a = ConsentService(replica_a, hub_keys, hub_id="hub", audit=audit)
        service_b = ConsentService(replica_b, hub_keys, hub_id="hub", audit=audit)
        ids = await register_household(kit, service_a)
        people = household(kit)
        # B has checked before, so its pool holds an open connection that must not see a stale snapshot.
        assert await service_b.check(people, purpose=PURPOSE, categories=ALL, requester=kit.mis_member)

        revoked = await service_a.revoke(ids[1], reason="withdrawn at the office", by=kit.mis_member)
        assert (revoked.status, revoked.revoked_by, revoked.revocation_reason) == (
            "revoked",
            kit.mis,
            "withdrawn at the office",
        )
        assert revoked.revoked_at is not None

        with pytest.raises(ConsentRevoked) as caught:
            await service_b.check(people, purpose=PURPOSE, categories=ALL, requester=kit.mis_member)
        assert caught.value.code == "consent_revoked"
        assert caught.value.extensions["members"] == [{"index": 1, "reason": "consent_revoked"}]
        with pytest.raises(ConsentAlreadyRevoked):
            await service_b.revoke(ids[1], reason="again", by=kit.mis_member)
    finally:
        await replica_a.dispose()
        await replica_b.dispose()


async def test_only_the_controller_or_grantee_may_revoke(kit: ConsentKit, service: ConsentService) -> None:
    own, regional = kit.id_number(40, sequence=101), kit.id_number(41, sequence=103)
    own_view, regional_view = await service.register(
        [kit.registration(id_number=own), kit.registration(id_number=regional, grantee="110101")],
        controller=kit.mis_member,
    )
    for outsider in (kit.stranger, kit.neighbour):
        with pytest.raises(NotFound):
            await service.revoke(own_view.consent_id, reason="not mine", by=outsider)
    with pytest.raises(NotFound):
        await service.revoke("00000000-0000-0000-0000-000000000000", reason="unknown", by=kit.mis_member)
    # A region's grant may be revoked by any member of the region.
    assert (await service.revoke(regional_view.consent_id, reason="moved", by=kit.neighbour)).status == "revoked"
    assert (await service.search(own, member=kit.mis_member))[0].status == "active"


async def test_search_lists_what_the_member_registered_or_was_granted(kit: ConsentKit, service: ConsentService) -> None:
    number = kit.id_number(40)
    first = (await service.register([kit.registration(id_number=number)], controller=kit.mis_member))[0]
    renewal = kit.registration(
        id_number=number,
        grantee="110101",
        evidence={"sha256": "ef" * 32, "ref": "MIS-110101/2026/000999"},
        signed_at=kit.now - timedelta(hours=1),
    )
    second = (await service.register([renewal], controller=kit.mis_member))[0]
    await service.revoke(first.consent_id, reason="replaced by a new form", by=kit.mis_member)

    mine = await service.search(number, member=kit.mis_member)
    assert [(view.consent_id, view.status) for view in mine] == [
        (second.consent_id, "active"),
        (first.consent_id, "revoked"),
    ]
    assert [view.consent_id for view in await service.search(number, member=kit.neighbour)] == [second.consent_id]
    assert await service.search(number, member=kit.stranger) == []
    assert number not in json.dumps([view.model_dump(mode="json") for view in mine])
