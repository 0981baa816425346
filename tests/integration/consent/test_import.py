"""CSV import into a real database, all or nothing, through the service and through `hedui consent import`."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.audit.models import AuditEntryRow
from gateway.cli import app
from gateway.consent import ConsentService, import_consents, verify_receipt
from gateway.consent.models import Consent
from gateway.consent.rules import CHINA_STANDARD_TIME
from gateway.envelope import HubKeys, generate_member_jwks
from gateway.errors import ConsentImportInvalid
from gateway.keydir import init_hub_key_dir
from gateway.store import Database

if TYPE_CHECKING:  # the kit is a fixture of this directory's conftest.py
    from conftest import ConsentKit

HEADER = (
    "id_number,purposes,categories,collection_method,evidence_sha256,evidence_ref,signed_at,"
    "guardian_id_number,guardian_relation"
)


def county_export(kit: ConsentKit, *, broken: bool = False) -> tuple[bytes, list[str]]:
    signed = (kit.now - timedelta(days=2)).astimezone(CHINA_STANDARD_TIME).date().isoformat()
    head, spouse, child = kit.id_number(45, sequence=111), kit.id_number(43, sequence=222), kit.id_number(9, 333)
    form = "7c" * 32
    categories = "hukou;civil_affairs;tax;housing;banking"
    lines = [
        HEADER,
        f"{head},dibao.application,{categories},signed_form,{form},县民政局/2026/0042,{signed},,",
        f"{spouse},dibao.application,{categories},e_signature,{form},县民政局/2026/0042,{signed},,",
        f"{child},dibao.application,{categories},guardian,{form},县民政局/2026/0042,{signed},{head},parent",
    ]
    if broken:
        lines[3] = lines[3].replace(f",{head},parent", ",,")
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"), [head, spouse, child]


async def count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Consent)) or 0)


async def test_a_file_is_imported_whole_and_checked(
    kit: ConsentKit, service: ConsentService, database: Database
) -> None:
    data, people = county_export(kit)
    imported = await import_consents(service, data, controller=kit.mis_member)
    assert [row for row, _ in imported] == [2, 3, 4]
    assert [view.collection_method for _, view in imported] == ["signed_form", "e_signature", "guardian"]
    relied_on = await service.check(
        people, purpose="dibao.application", categories=kit.all_categories, requester=kit.mis_member
    )
    assert list(relied_on) == [view.consent_id for _, view in imported]


async def test_one_bad_row_imports_nothing(kit: ConsentKit, service: ConsentService, database: Database) -> None:
    data, _ = county_export(kit, broken=True)
    with pytest.raises(ConsentImportInvalid) as caught:
        await import_consents(service, data, controller=kit.mis_member)
    assert caught.value.extensions["errors"] == [
        {
            "row": 4,
            "field": "guardian_id_number",
            "msg": "collection_method guardian requires the guardian's identity number",
        }
    ]
    assert await count(database) == 0


async def test_importing_a_file_twice_reports_every_row_and_adds_nothing(
    kit: ConsentKit, service: ConsentService, database: Database
) -> None:
    data, people = county_export(kit)
    await import_consents(service, data, controller=kit.mis_member)
    with pytest.raises(ConsentImportInvalid) as caught:
        await import_consents(service, data, controller=kit.mis_member)
    assert caught.value.extensions["errors"] == [
        {"row": row, "field": "evidence_sha256", "msg": "already registered for this person"} for row in (2, 3, 4)
    ]
    assert await count(database) == 3
    assert all(person not in json.dumps(caught.value.extensions) for person in people)


async def logged_entries(url: str, kind: str) -> list[dict[str, object]]:
    database = Database(url)
    try:
        async with database.session() as session:
            rows = await session.scalars(select(AuditEntryRow.entry).where(AuditEntryRow.entry_type == kind))
            return [json.loads(row) for row in rows]
    finally:
        await database.dispose()


def test_the_cli_imports_a_file_and_reports_row_errors(
    kit: ConsentKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HEDUI_DATABASE_URL", url)
    key_dir = tmp_path / "keys"
    keys: HubKeys = init_hub_key_dir(key_dir)
    _, public = generate_member_jwks()
    (tmp_path / "mis.jwks.json").write_text(json.dumps(public))
    added = runner.invoke(
        app,
        [
            "members",
            "add",
            kit.mis,
            "--role",
            "local_mis",
            "--region",
            "110101",
            "--jwks",
            str(tmp_path / "mis.jwks.json"),
        ],
    )
    assert added.exit_code == 0, added.output

    data, people = county_export(kit)
    (tmp_path / "export.csv").write_bytes(data)
    command = ["consent", "import", str(tmp_path / "export.csv"), "--grantee", kit.mis, "--key-dir", str(key_dir)]
    first = runner.invoke(app, [*command, "--database-url", url, "--receipts", str(tmp_path / "receipts.jsonl")])
    assert first.exit_code == 0, first.output
    assert f"imported 3 consents granted to {kit.mis}" in first.stdout
    lines = [json.loads(line) for line in (tmp_path / "receipts.jsonl").read_text().splitlines()]
    assert [line["row"] for line in lines] == [2, 3, 4]
    for line in lines:
        assert verify_receipt(line["receipt"], keys.public_jwks())["consentReceiptID"] == line["consent_id"]
    # Issue 11 #9: the import writes a consent.granted entry per consent, in the hub's log.
    granted = asyncio.run(logged_entries(url, "consent.granted"))
    assert sorted(entry["consent_id"] for entry in granted) == sorted(line["consent_id"] for line in lines)

    again = runner.invoke(app, command)
    assert again.exit_code == 1
    assert "consent_import_invalid" in again.stderr
    assert "row 3 evidence_sha256: already registered for this person" in again.stderr
    assert all(person not in again.output for person in people)

    unknown = runner.invoke(app, [*command[:4], "CN/GOV/11510502MB76543212/dibao-mis", *command[5:]])
    assert (unknown.exit_code, "not_found" in unknown.stderr) == (1, True)
