"""``hedui adapters``: the adapter SDK's commands (docs/adapters.md): run the conformance suite against an
adapter, scaffold a new adapter package."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

adapters_app = typer.Typer(
    help="Adapter SDK: conformance suite and scaffolding (docs/adapters.md).", no_args_is_help=True
)
console = Console()


@adapters_app.command("test")
def adapters_test(
    entry_point: Annotated[str, typer.Argument(help="The adapter's name under the hedui.adapters entry points")],
    agency_url: Annotated[
        str | None, typer.Option(help="The agency to test against (default: the adapter's simulated agency)")
    ] = None,
    id_number: Annotated[
        list[str] | None, typer.Option(help="An identity number the agency knows (repeatable; with --agency-url)")
    ] = None,
) -> None:
    """Run the conformance suite; exit 1 if any check fails."""
    from adapters.testkit.conformance import run_conformance

    checks = asyncio.run(run_conformance(entry_point, agency_url=agency_url, id_numbers=id_number or ()))
    table = Table(title=f"conformance of {entry_point}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, "pass" if check.passed else "FAIL", check.detail)
    console.print(table)
    if not all(check.passed for check in checks):
        raise typer.Exit(code=1)


@adapters_app.command("new")
def adapters_new(
    name: Annotated[str, typer.Argument(help="The adapter's name: lowercase letters, digits and _")],
    protocol: Annotated[str, typer.Option(help="rest, soap or xml: how the agency is spoken to")] = "rest",
    out: Annotated[Path, typer.Option(help="Directory to create the package in")] = Path("."),
) -> None:
    """Scaffold an adapter package: adapter, simulated agency, entry points, a conformance test."""
    from gateway.errors import HeduiError
    from gateway.scaffold import scaffold

    try:
        root = scaffold(name, protocol, out)
    except HeduiError as exc:
        console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(code=1) from exc
    console.print(f"created {root}; next: pip install -e {root} && hedui adapters test {name}")
