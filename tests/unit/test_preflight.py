"""Start-up checks: every configuration problem at once, each naming its variable, no secret echoed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from gateway import contracts, preflight
from gateway.contracts import CONTRACTS_DIR
from gateway.keydir import init_hub_key_dir
from gateway.store.database import migrate


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sound embedded configuration: keys, a migrated SQLite file, no agencies."""
    for name in [name for name in os.environ if name.startswith("HEDUI_")]:
        monkeypatch.delenv(name)
    init_hub_key_dir(tmp_path / "keys")
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    monkeypatch.setenv("HEDUI_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("HEDUI_DATABASE_URL", url)
    monkeypatch.setenv("HEDUI_MIGRATE_ON_START", "false")
    return tmp_path


def wheres(problems: list[preflight.Problem]) -> list[str]:
    return [problem.where.split(" ")[0] for problem in problems]


def test_a_sound_configuration_has_no_problem(environment: Path) -> None:
    assert preflight.configuration_problems() == []


def test_every_problem_is_listed_at_once(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_SOURCE_TIMEOUT_S", "-1")
    monkeypatch.setenv("HEDUI_BREAKER_FAILURES", "many")
    monkeypatch.setenv("HEDUI_HUB_ID", "CN/XXX/123/hub")
    monkeypatch.setenv("HEDUI_PUBLIC_URL", "hub.example")
    monkeypatch.setenv("HEDUI_AGENCIES", json.dumps({"tax": "https://tax.example/", "Pension": "file:///etc"}))
    monkeypatch.setenv("HEDUI_EXTERNAL_ISSUER", "https://idp.example")
    monkeypatch.setenv("HEDUI_KEY_DIR", str(environment / "missing"))
    problems = preflight.configuration_problems()
    assert sorted(wheres(problems)) == sorted(
        [
            "HEDUI_SOURCE_TIMEOUT_S",
            "HEDUI_BREAKER_FAILURES",
            "HEDUI_HUB_ID",
            "HEDUI_PUBLIC_URL",
            "HEDUI_AGENCIES",  # Pension: no such adapter
            "HEDUI_AGENCIES",  # Pension: not an http(s) URL
            "HEDUI_EXTERNAL_ISSUER",
            "HEDUI_KEY_DIR",
        ]
    )


def test_a_damaged_key_directory_is_named(environment: Path) -> None:
    (environment / "keys" / "log.private.jwk.json").write_text("{}", encoding="utf-8")
    problems = preflight.configuration_problems()
    assert wheres(problems) == ["HEDUI_KEY_DIR"]
    assert "log key" in problems[0].what


def test_a_schema_behind_the_code_is_a_problem_when_the_hub_does_not_migrate(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEDUI_DATABASE_URL", f"sqlite+aiosqlite:///{environment / 'empty.db'}")
    [problem] = preflight.configuration_problems()
    assert problem.where == "HEDUI_DATABASE_URL"
    assert "hedui db upgrade" in problem.what
    monkeypatch.setenv("HEDUI_MIGRATE_ON_START", "true")
    assert preflight.configuration_problems() == []


def test_database_problems_never_echo_the_url(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_DATABASE_URL", "mysql+aiomysql://hedui:s3cret@db.example/hedui")
    [problem] = preflight.configuration_problems()
    assert problem.where == "HEDUI_DATABASE_URL"
    assert "s3cret" not in str(problem)


def test_every_policy_problem_is_listed(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = environment / "contracts"
    shutil.copytree(CONTRACTS_DIR, copy)
    for name in ("110101/dibao.yaml", "110101/tekun.yaml"):
        path = copy / "policies" / name
        if path.exists():
            path.write_text(path.read_text(encoding="utf-8").replace("monthly_income_per_capita", "no_such_indicator"))
    monkeypatch.setattr(contracts, "CONTRACTS_DIR", copy)
    problems = preflight.configuration_problems()
    assert problems
    assert all("policies" in problem.where for problem in problems)
    assert any("110101" in str(problem) for problem in problems)


def test_console_sign_in_through_a_provider_needs_its_client(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEDUI_CONSOLE_OIDC_ISSUER", "http://idp.example.gov.cn")  # plain http off the machine
    problems = preflight.configuration_problems()
    assert wheres(problems) == ["HEDUI_CONSOLE_OIDC_ISSUER", "HEDUI_CONSOLE_OIDC_ISSUER"]
    monkeypatch.setenv("HEDUI_CONSOLE_OIDC_ISSUER", "https://idp.example.gov.cn/realms/mca")
    monkeypatch.setenv("HEDUI_CONSOLE_OIDC_CLIENT_ID", "hedui-console")
    monkeypatch.setenv("HEDUI_CONSOLE_OIDC_CLIENT_SECRET", "a-secret-never-echoed")
    assert preflight.configuration_problems() == []
