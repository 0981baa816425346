from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import gateway.members.registry as registry_module
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


async def test_imported_keys_are_cached_and_dropped_with_the_record(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(database_url)
    try:
        registry = MemberRegistry(database)
        _, public = generate_member_jwks()
        await registry.add(MIS, role="local_mis", region="110101", public_jwks=public)
        sig_kid = next(k["kid"] for k in public["keys"] if k["use"] == "sig")
        enc_kid = next(k["kid"] for k in public["keys"] if k["use"] == "enc")
        signing = await registry.verification_key(MIS, sig_kid)
        assert await registry.verification_key(MIS, sig_kid) is signing, "imported once per cached record"
        encryption = await registry.encryption_key(MIS)
        assert encryption.thumbprint() == enc_kid
        assert await registry.encryption_key(MIS) is encryption

        # Another hub process replaces the keys: this one keeps its cached keys until the record expires.
        _, rotated = generate_member_jwks()
        await MemberRegistry(database).add(MIS, role="local_mis", public_jwks=rotated, replace_keys=True)
        assert await registry.verification_key(MIS, sig_kid) is signing
        assert await registry.encryption_key(MIS) is encryption

        later = time.monotonic() + 31  # past the 30 s member cache
        monkeypatch.setattr(registry_module, "time", SimpleNamespace(monotonic=lambda: later))
        new_enc = next(k["kid"] for k in rotated["keys"] if k["use"] == "enc")
        assert (await registry.encryption_key(MIS)).thumbprint() == new_enc
        with pytest.raises(SignatureInvalid):
            await registry.verification_key(MIS, sig_kid)

        # A change through this registry drops its cached keys at once.
        _, third = generate_member_jwks()
        await registry.add(MIS, role="local_mis", public_jwks=third, replace_keys=True)
        third_enc = next(k["kid"] for k in third["keys"] if k["use"] == "enc")
        assert (await registry.encryption_key(MIS)).thumbprint() == third_enc
        new_sig = next(k["kid"] for k in rotated["keys"] if k["use"] == "sig")
        with pytest.raises(SignatureInvalid):
            await registry.verification_key(MIS, new_sig)
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
