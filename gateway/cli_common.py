"""What the hub's and the edge's command lines share: the error exit and `audit verify`'s check of a log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import typer
from rich.console import Console

from gateway.errors import HeduiError

console = Console()
err_console = Console(stderr=True)


def fail(exc: HeduiError) -> typer.Exit:
    """Print ``exc``'s stable code and detail on stderr; the exit (code 1) to raise."""
    err_console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
    return typer.Exit(code=1)


def print_log_verification(database_url: str, verifier_keys: Callable[[], list[str]]) -> None:
    """Recompute the audit log in ``database_url``, check every checkpoint with ``verifier_keys()`` and print the
    summary; exit 1 naming the first fault."""
    from gateway.audit import verify_log
    from gateway.store import Database

    async def run() -> str:
        keys = verifier_keys()
        database = Database(database_url)
        try:
            return (await verify_log(database, *keys)).summary()
        finally:
            await database.dispose()

    try:
        summary = asyncio.run(run())
    except HeduiError as exc:
        raise fail(exc) from exc
    console.print(summary, highlight=False, soft_wrap=True)
