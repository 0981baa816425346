"""``hedui console add-user`` against a fresh SQLite database (migrated by the command)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.audit import init_log_key
from gateway.audit.models import AuditEntryRow
from gateway.cli import app
from gateway.console.models import ConsoleUser
from gateway.envelope import init_key_dir
from gateway.store import Database


def hub_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Hub keys and a database URL in the environment, as an operator's shell has them; returns the URL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("HEDUI_DATABASE_URL", url)
    monkeypatch.setenv("HEDUI_KEY_DIR", str(tmp_path / "keys"))
    init_key_dir(tmp_path / "keys")
    init_log_key(tmp_path / "keys")
    return url


def test_add_user_creates_an_audited_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = hub_environment(tmp_path, monkeypatch)
    password = tmp_path / "pw.txt"
    password.write_text("a long enough passphrase\n", encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(
        app, ["console", "add-user", "li.auditor", "--role", "auditor", "--password-file", str(password)]
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(app, ["console", "add-user", "li.auditor", "--password-file", str(password)])
    assert again.exit_code == 1 and "conflict" in again.output

    async def stored() -> tuple[ConsoleUser | None, list[str]]:
        database = Database(url)
        try:
            async with database.session() as session:
                entries = (await session.execute(select(AuditEntryRow.entry_type))).scalars()
                return await session.get(ConsoleUser, "li.auditor"), list(entries)
        finally:
            await database.dispose()

    user, entry_types = asyncio.run(stored())
    assert entry_types == ["console.user_added"]
    assert user is not None and user.role == "auditor"
    assert PasswordHasher().verify(user.password_hash, "a long enough passphrase")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Bad Name"], "invalid_request"),
        (["li", "--role", "root"], "invalid_request"),
    ],
)
def test_add_user_refuses_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    monkeypatch.setenv("HEDUI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    password = tmp_path / "pw.txt"
    password.write_text("a long enough passphrase\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["console", "add-user", *arguments, "--password-file", str(password)])
    assert result.exit_code == 1 and message in result.output


def test_add_user_refuses_a_short_or_missing_password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    short = tmp_path / "short.txt"
    short.write_text("short\n", encoding="utf-8")
    for path in (short, tmp_path / "missing.txt"):
        result = CliRunner().invoke(app, ["console", "add-user", "li", "--password-file", str(path)])
        assert result.exit_code == 1 and "invalid_request" in result.output


def test_add_user_links_an_account_to_the_identity_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = hub_environment(tmp_path, monkeypatch)
    runner = CliRunner()
    unconfigured = runner.invoke(app, ["console", "add-user", "wang", "--oidc-subject", "248289761001"])
    assert unconfigured.exit_code == 1 and "HEDUI_CONSOLE_OIDC_ISSUER" in unconfigured.output
    both = runner.invoke(app, ["console", "add-user", "wang", "--oidc-subject", "s", "--password-file", "pw.txt"])
    assert both.exit_code == 1 and "invalid_request" in both.output

    monkeypatch.setenv("HEDUI_CONSOLE_OIDC_ISSUER", "https://idp.example.gov.cn/realms/mca")
    added = runner.invoke(app, ["console", "add-user", "wang", "--oidc-subject", "248289761001"])
    assert added.exit_code == 0, added.output
    assert "identity provider" in added.output

    async def stored() -> ConsoleUser | None:
        database = Database(url)
        try:
            async with database.session() as session:
                return await session.get(ConsoleUser, "wang")
        finally:
            await database.dispose()

    user = asyncio.run(stored())
    assert user is not None
    assert (user.oidc_issuer, user.oidc_subject) == ("https://idp.example.gov.cn/realms/mca", "248289761001")
    assert not user.password_hash.startswith("$argon2")  # no password can open it
