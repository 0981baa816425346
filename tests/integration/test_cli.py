from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.envelope import HubKeys, generate_member_jwks

runner = CliRunner()


def test_keys_init_writes_owner_only_keys_and_refuses_to_overwrite(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    result = runner.invoke(app, ["keys", "init", "--key-dir", str(key_dir)])
    assert result.exit_code == 0, result.output
    assert key_dir.stat().st_mode & 0o077 == 0
    for path in key_dir.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path.name
    keys = HubKeys.load(key_dir)
    assert {k["use"] for k in keys.public_jwks()["keys"]} >= {"sig", "enc"}
    again = runner.invoke(app, ["keys", "init", "--key-dir", str(key_dir)])
    assert again.exit_code != 0


def test_members_add_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    _, public = generate_member_jwks()
    jwks_file = tmp_path / "mis.jwks.json"
    jwks_file.write_text(json.dumps(public))
    member = "CN/GOV/11110101MB12345677/dibao-mis"
    added = runner.invoke(
        app, ["members", "add", member, "--role", "local_mis", "--region", "110101", "--jwks", str(jwks_file)]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["members", "list"])
    assert member in listed.output
    bad = runner.invoke(app, ["members", "add", "CN/GOV/bad/x", "--role", "local_mis", "--jwks", str(jwks_file)])
    assert bad.exit_code == 1
    assert "invalid_member_id" in bad.output


def test_key_rotation_and_member_changes_are_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from gateway.audit import AuditLog, LogKey, log_origin
    from gateway.settings import DEFAULT_HUB_ID
    from gateway.store import Database

    key_dir, database_url = tmp_path / "keys", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HEDUI_DATABASE_URL", database_url)
    monkeypatch.setenv("HEDUI_KEY_DIR", str(key_dir))
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    old_signing = HubKeys.load(key_dir).signing_key.kid
    rotated = runner.invoke(app, ["keys", "rotate", "--grace-s", "0"])
    assert rotated.exit_code == 0, rotated.output
    assert runner.invoke(app, ["keys", "retire", str(old_signing)]).exit_code == 0
    _, public = generate_member_jwks()
    (tmp_path / "m.json").write_text(json.dumps(public))
    member = "CN/GOV/11110101MB12345677/dibao-mis"
    added = runner.invoke(
        app, ["members", "add", member, "--role", "local_mis", "--region", "110101", "--jwks", str(tmp_path / "m.json")]
    )
    assert added.exit_code == 0, added.output

    async def logged() -> list[dict[str, object]]:
        database = Database(database_url)
        log = AuditLog(
            database,
            log_key=LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID)),
            subject_pepper=HubKeys.load(key_dir).subject_pepper,
        )
        try:
            return [e.entry for e in await log.search(types=["key.rotated", "member.changed"])]
        finally:
            await log.aclose()
            await database.dispose()

    entries = asyncio.run(logged())
    assert [(e["type"], e.get("key"), e.get("change")) for e in entries] == [
        ("key.rotated", "signing", None),
        ("key.rotated", "encryption", None),
        ("key.rotated", "signing", None),
        ("member.changed", None, "added"),
    ]
    assert entries[2]["old_kid"] == old_signing


def test_members_add_registers_a_callback_url_audited_and_refuses_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from sqlalchemy import select

    from gateway.audit.models import AuditEntryRow
    from gateway.members import MemberRegistry
    from gateway.store import Database

    key_dir, database_url = tmp_path / "keys", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HEDUI_DATABASE_URL", database_url)
    monkeypatch.setenv("HEDUI_KEY_DIR", str(key_dir))
    _, public = generate_member_jwks()
    (tmp_path / "m.json").write_text(json.dumps(public))
    member = "CN/GOV/11110101MB12345677/dibao-mis"
    add = ["members", "add", member, "--role", "local_mis", "--region", "110101", "--jwks", str(tmp_path / "m.json")]

    no_keys = runner.invoke(app, [*add, "--callback-url", "https://mis.example.org/hedui"])
    assert no_keys.exit_code == 1 and "configuration_error" in no_keys.output  # it could not be audited
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    plain_http = runner.invoke(app, [*add, "--callback-url", "http://mis.example.org/hedui"])
    assert plain_http.exit_code == 1 and "callback_url_not_allowed" in plain_http.output
    added = runner.invoke(app, [*add, "--callback-url", "https://mis.example.org/hedui"])
    assert added.exit_code == 0, added.output
    assert "https://mis.example.org/hedui" in added.output

    async def stored() -> tuple[str | None, list[tuple[str, str | None]]]:
        database = Database(database_url)
        try:
            async with database.engine.connect() as connection:
                rows = await connection.execute(
                    select(AuditEntryRow.entry)
                    .where(AuditEntryRow.entry_type == "member.changed")
                    .order_by(AuditEntryRow.leaf_index)
                )
                entries = [json.loads(entry) for (entry,) in rows]
            record = await MemberRegistry(database).get(member)
            return record.callback_url, [(e["change"], e.get("callback_url")) for e in entries]
        finally:
            await database.dispose()

    url, changes = asyncio.run(stored())
    assert url == "https://mis.example.org/hedui"
    assert changes[-2:] == [("added", None), ("callback_changed", "https://mis.example.org/hedui")]
    assert runner.invoke(app, [*add, "--callback-url", ""]).exit_code == 0  # '' removes it
    url, changes = asyncio.run(stored())
    assert url is None and changes[-1] == ("callback_changed", None)
