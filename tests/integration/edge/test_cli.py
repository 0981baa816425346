"""`hedui edge init`, `hedui adapters test` and `hedui adapters new` as an operator or developer runs them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from gateway.envelope import HubKeys

runner = CliRunner()
EDGE = "CN/GOV/11100000MB0348923N/tax-edge"


def test_edge_init_makes_keys_and_prints_only_the_public_jwks(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    result = runner.invoke(
        app, ["edge", "init", "--member-id", EDGE, "--key-dir", str(keys), "--out", str(tmp_path / "pub.json")]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == json.loads((tmp_path / "pub.json").read_text())
    assert {key["use"] for key in printed["keys"]} == {"sig", "enc"}
    assert all("d" not in key for key in printed["keys"])
    assert printed == HubKeys.load(keys).public_jwks()
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in keys.iterdir())
    again = runner.invoke(app, ["edge", "init", "--member-id", EDGE, "--key-dir", str(keys)])
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    bad = runner.invoke(app, ["edge", "init", "--member-id", "not-a-member-id", "--key-dir", str(tmp_path / "k2")])
    assert bad.exit_code == 1 and "invalid_member_id" in bad.output


def test_adapters_test_reports_every_check() -> None:
    result = runner.invoke(app, ["adapters", "test", "medical_insurance"])
    assert result.exit_code == 0, result.output
    for check in ("contract", "wrong_person", "deadline", "no_identity_numbers_in_logs"):
        assert check in result.output
    assert "FAIL" not in result.output
    missing = runner.invoke(app, ["adapters", "test", "no_such_adapter"])
    assert missing.exit_code == 1 and "FAIL" in missing.output


def test_adapters_new_scaffolds_a_package(tmp_path: Path) -> None:
    result = runner.invoke(app, ["adapters", "new", "pension", "--protocol", "xml", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hedui-adapter-pension" / "hedui_pension" / "agency.py").exists()
    refused = runner.invoke(app, ["adapters", "new", "pension", "--protocol", "grpc", "--out", str(tmp_path)])
    assert refused.exit_code == 1 and "configuration_error" in refused.output
