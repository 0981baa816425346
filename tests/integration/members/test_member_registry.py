from __future__ import annotations

import pytest

from gateway.envelope import generate_member_jwks
from gateway.errors import Conflict, InvalidInput, NotFound, SignatureInvalid, UnknownMember
from gateway.members import MemberRegistry
from gateway.store import Database

MIS = "CN/GOV/11110101MB12345677/dibao-mis"
OTHER = "CN/GOV/11510502MB76543212/dibao-mis"


async def test_register_resolve_and_rotate(database_url: str) -> None:
    database = Database(database_url)
    try:
        registry = MemberRegistry(database)
        _, public = generate_member_jwks()
        record = await registry.add(MIS, role="local_mis", region="110101", public_jwks=public)
        assert record.region == "110101"
        sig_kid = next(k["kid"] for k in public["keys"] if k["use"] == "sig")
        assert (await registry.verification_key(MIS, sig_kid)).thumbprint() == sig_kid

        _, rotated = generate_member_jwks()
        await registry.add(MIS, role="local_mis", public_jwks=rotated)  # adding keys keeps the region
        fresh = MemberRegistry(database)  # no cache: what another hub process would see
        both = await fresh.get(MIS)
        assert len(both.public_jwks["keys"]) == 4, "old and new keys verify side by side during rotation"
        assert both.region == "110101"
        new_enc = next(k["kid"] for k in rotated["keys"] if k["use"] == "enc")
        assert (await fresh.encryption_key(MIS)).thumbprint() == new_enc

        await registry.add(MIS, role="local_mis", region="110101", public_jwks=rotated, replace_keys=True)
        with pytest.raises(SignatureInvalid):
            await MemberRegistry(database).verification_key(MIS, sig_kid)
    finally:
        await database.dispose()


async def test_refusals(database_url: str) -> None:
    database = Database(database_url)
    try:
        registry = MemberRegistry(database)
        private, public = generate_member_jwks()
        with pytest.raises(InvalidInput, match="private"):
            await registry.add(MIS, role="local_mis", public_jwks=private)
        with pytest.raises(InvalidInput, match="role"):
            await registry.add(MIS, role="superuser", public_jwks=public)
        await registry.add(MIS, role="local_mis", region="110101", public_jwks=public)
        with pytest.raises(Conflict):
            await registry.add(OTHER, role="local_mis", region="510502", public_jwks=public)
        with pytest.raises(Conflict):
            await registry.add(MIS, role="auditor", public_jwks=public)
        with pytest.raises(NotFound):
            await registry.get(OTHER)
        with pytest.raises(UnknownMember):
            await registry.verification_key(OTHER, "any")
        tampered = {"keys": [dict(public["keys"][0], kid="not-the-thumbprint")]}
        with pytest.raises(InvalidInput, match="thumbprint"):
            await registry.add(OTHER, role="local_mis", public_jwks=tampered)
    finally:
        await database.dispose()
