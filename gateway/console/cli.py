"""``hedui console``: console accounts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from gateway.errors import HeduiError

console_app = typer.Typer(help="The auditor console (/console): accounts.", no_args_is_help=True)


@console_app.command("add-user")
def add_user(
    name: Annotated[str, typer.Argument(help="user name: a-z, 0-9, '_', '.', '-'")],
    password_file: Annotated[Path, typer.Option(help="file holding the password (first line)")],
    role: Annotated[str, typer.Option(help="auditor")] = "auditor",
) -> None:
    """Create a local console account (argon2id password hash) in the hub's database (HEDUI_DATABASE_URL)."""
    from gateway.settings import Settings

    try:
        password = password_file.read_text(encoding="utf-8").splitlines()[0] if password_file.exists() else ""
        asyncio.run(create_user(Settings().database_url, name, role=role, password=password))
    except HeduiError as exc:
        typer.echo(f"error {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"console user {name} ({role}) added")


async def create_user(database_url: str, name: str, *, role: str, password: str) -> None:
    """Migrate the database if needed and add the account (no audit log needed: adding is not a sign-in)."""
    from gateway.console.accounts import add_user
    from gateway.store import Database
    from gateway.store.database import migrate_async

    await migrate_async(database_url)
    database = Database(database_url)
    try:
        await add_user(database, name, role=role, password=password)
    finally:
        await database.dispose()
