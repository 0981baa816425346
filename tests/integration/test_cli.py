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
