"""``hedui console``: console accounts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from gateway.console.accounts import validate_account
from gateway.console.oidc import OidcIdentity, checked_issuer
from gateway.errors import ConfigurationError, HeduiError, InvalidInput
from gateway.settings import Settings

console_app = typer.Typer(help="The auditor console (/console): accounts.", no_args_is_help=True)


@console_app.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="user name: a-z, 0-9, '_', '.', '-'")],
    password_file: Annotated[
        Path | None, typer.Option(help="file holding the password (first line), for password sign-in")
    ] = None,
    oidc_subject: Annotated[
        str | None,
        typer.Option(help="the person's `sub` at HEDUI_CONSOLE_OIDC_ISSUER, for sign-in through that provider"),
    ] = None,
    role: Annotated[str, typer.Option(help="auditor")] = "auditor",
) -> None:
    """Create a console account in the hub's database (HEDUI_DATABASE_URL): with a password (argon2id hash), or
    linked to an identity of the configured OpenID Connect provider (it then signs in only there)."""
    try:
        if (password_file is None) == (oidc_subject is None):
            raise InvalidInput("give --password-file or --oidc-subject (one of them)")
        settings = Settings()
        password: str | None = None
        oidc: OidcIdentity | None = None
        if password_file is not None:
            lines = password_file.read_text(encoding="utf-8").splitlines() if password_file.is_file() else []
            password = lines[0] if lines else ""
            validate_account(name, role, password)  # before any key or database is touched
        else:
            if not settings.console_oidc_issuer:
                raise ConfigurationError(
                    "--oidc-subject needs HEDUI_CONSOLE_OIDC_ISSUER (the provider it is a subject of)"
                )
            assert oidc_subject is not None
            oidc = OidcIdentity(checked_issuer(settings.console_oidc_issuer), oidc_subject)
        asyncio.run(create_user(settings, name, role=role, password=password, oidc=oidc))
    except HeduiError as exc:
        typer.echo(f"error {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(code=1) from None
    how = "identity provider" if oidc else "password"
    typer.echo(f"console user {name} ({role}, {how}) added")


async def create_user(
    settings: Settings, name: str, *, role: str, password: str | None = None, oidc: OidcIdentity | None = None
) -> None:
    """Migrate the database if needed and add the account, audited (``console.user_added``) in the hub's log
    with the log key of HEDUI_KEY_DIR, like the other operator commands."""
    from gateway.audit import AuditLog, LogKey, log_origin
    from gateway.console.accounts import add_user
    from gateway.envelope import HubKeys
    from gateway.store import Database
    from gateway.store.database import migrate_async

    log_key = LogKey.load(settings.key_dir, name=log_origin(settings.hub_id))
    pepper = HubKeys.load(settings.key_dir).subject_pepper
    await migrate_async(settings.database_url)
    database = Database(settings.database_url)
    audit = AuditLog(database, log_key=log_key, subject_pepper=pepper)
    try:
        await add_user(database, audit, name, role=role, password=password, oidc=oidc, hub_id=settings.hub_id)
    finally:
        await audit.aclose()
        await database.dispose()
