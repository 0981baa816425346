"""The ``hedui`` command (typer)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gateway.errors import HeduiError

app = typer.Typer(help="Hedui (核对): federated means-test verification hub.", no_args_is_help=True)
keys_app = typer.Typer(help="The hub's key material.", no_args_is_help=True)
members_app = typer.Typer(help="Federation members.", no_args_is_help=True)
db_app = typer.Typer(help="The hub's database.", no_args_is_help=True)
federation_app = typer.Typer(help="Signed federation metadata.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(members_app, name="members")
app.add_typer(db_app, name="db")
app.add_typer(federation_app, name="federation")
console = Console()
err_console = Console(stderr=True)


def _fail(exc: HeduiError) -> typer.Exit:
    err_console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
    return typer.Exit(code=1)


@keys_app.command("init")
def keys_init(
    key_dir: Annotated[Path | None, typer.Option(help="Key directory (default: HEDUI_KEY_DIR or var/keys)")] = None,
    force: Annotated[bool, typer.Option(help="Replace existing keys (old envelopes stop opening)")] = False,
) -> None:
    """Generate the hub's Ed25519 signing key, X25519 encryption key and at-rest secrets."""
    from gateway.envelope import init_key_dir
    from gateway.settings import Settings

    directory = key_dir or Settings().key_dir
    try:
        keys = init_key_dir(directory, force=force)
    except HeduiError as exc:
        raise _fail(exc) from exc
    console.print(f"hub keys written to {directory} (private files mode 0600)")
    for jwk in keys.public_jwks()["keys"]:
        console.print(f"  {jwk['use']}  {jwk['crv']:8} kid={jwk['kid']}")


@keys_app.command("rotate")
def keys_rotate(
    key_dir: Annotated[Path | None, typer.Option(help="Key directory (default: HEDUI_KEY_DIR or var/keys)")] = None,
    grace_s: Annotated[float, typer.Option(help="Seconds before the new signing key starts signing")] = 86400,
) -> None:
    """Add a new hub key pair; both old and new are published, the new one signs after the grace period."""
    from gateway.envelope import rotate_key_dir
    from gateway.settings import Settings

    directory = key_dir or Settings().key_dir
    try:
        signing_kid, encryption_kid = rotate_key_dir(directory, grace_s=grace_s)
    except HeduiError as exc:
        raise _fail(exc) from exc
    console.print(f"new signing key {signing_kid} (signs in {grace_s:.0f} s), new encryption key {encryption_kid}")
    console.print("running hubs pick the keys up within a second; retire old keys with `hedui keys retire KID`")


@keys_app.command("retire")
def keys_retire(
    kid: Annotated[str, typer.Argument(help="Key id to remove")],
    key_dir: Annotated[Path | None, typer.Option(help="Key directory (default: HEDUI_KEY_DIR or var/keys)")] = None,
) -> None:
    """Remove an old hub key: what it signed no longer verifies, what was sealed to it no longer opens."""
    from gateway.envelope import retire_key
    from gateway.settings import Settings

    try:
        retire_key(key_dir or Settings().key_dir, kid)
    except HeduiError as exc:
        raise _fail(exc) from exc
    console.print(f"key {kid} retired")


@federation_app.command("export")
def federation_export(
    out: Annotated[Path | None, typer.Option(help="Write the JWS here instead of standard output")] = None,
) -> None:
    """Write the signed federation metadata (a compact JWS) for offline distribution."""
    from gateway.envelope import HubKeys
    from gateway.members import MemberRegistry
    from gateway.members.federation import federation_claims, sign_federation
    from gateway.settings import Settings
    from gateway.store import Database, migrate

    settings = Settings()

    async def run() -> str:
        database = Database(settings.database_url)
        try:
            members = await MemberRegistry(database).list()
        finally:
            await database.dispose()
        keys = HubKeys.load(settings.key_dir)
        claims = federation_claims(
            hub_id=settings.hub_id,
            base_url=settings.public_url,
            members=members,
            hub_jwks=keys.public_jwks(),
            lifetime_s=settings.federation_lifetime_s,
        )
        return sign_federation(claims, keys)

    try:
        migrate(settings.database_url)
        document = asyncio.run(run())
    except HeduiError as exc:
        raise _fail(exc) from exc
    if out is None:
        typer.echo(document)
    else:
        out.write_text(document + "\n", encoding="utf-8")
        console.print(f"federation metadata written to {out}")


@members_app.command("add")
def members_add(
    member_id: Annotated[str, typer.Argument(help="CN/<class>/<credit code>/<subsystem>")],
    role: Annotated[str, typer.Option(help="local_mis, agency, auditor or operator")],
    jwks: Annotated[Path, typer.Option(help="File with the member's PUBLIC JWKS")],
    region: Annotated[str | None, typer.Option(help="6-digit GB/T 2260 region")] = None,
    name: Annotated[str, typer.Option(help="Display name")] = "",
) -> None:
    """Register a member (or add keys to it) with its public JWKS."""
    from gateway.members import MemberRegistry
    from gateway.settings import Settings
    from gateway.store import Database, migrate

    settings = Settings()

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            record = await MemberRegistry(database).add(
                member_id, role=role, region=region, name=name, public_jwks=json.loads(jwks.read_text())
            )
        finally:
            await database.dispose()
        console.print(f"member {record.member_id} ({record.role}) has {len(record.public_jwks['keys'])} key(s)")

    try:
        migrate(settings.database_url)
        asyncio.run(run())
    except HeduiError as exc:
        raise _fail(exc) from exc


@members_app.command("list")
def members_list() -> None:
    """List the registered members."""
    from gateway.members import MemberRegistry
    from gateway.settings import Settings
    from gateway.store import Database, migrate

    settings = Settings()

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            for record in await MemberRegistry(database).list():
                kids = ", ".join(f"{k['use']}:{k['kid'][:12]}" for k in record.public_jwks["keys"])
                console.print(f"{record.member_id}  {record.role}  {record.region or '-'}  {kids}")
        finally:
            await database.dispose()

    migrate(settings.database_url)
    asyncio.run(run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to HEDUI_DATABASE_URL."""
    from gateway.settings import Settings
    from gateway.store import migrate

    migrate(Settings().database_url)
    console.print("database schema is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Run the hub (settings from HEDUI_* environment variables)."""
    import uvicorn

    uvicorn.run("gateway.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    data_dir: Annotated[Path, typer.Option()] = Path("var/sandbox"),
    households: Annotated[int, typer.Option(min=1)] = 2000,
) -> None:
    """Run the hub and the five simulated agencies until interrupted; writes <data-dir>/sandbox.json."""
    from gateway.sandbox import Sandbox

    async def run() -> None:
        box = Sandbox(data_dir=data_dir, host=host, port=port, households=households)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            document = await box.start()
            console.print(f"hub        {document['base_url']}  ({document['hub']['id']})")
            for agency, url in document["agencies"].items():
                console.print(f"agency     {agency:14} {url}")
            console.print(f"sandbox    {box.sandbox_json}  ({len(document['scenarios'])} scenarios)")
            console.print("press Ctrl-C to stop")
            await stop.wait()
        finally:
            await box.stop()

    asyncio.run(run())


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Scenario to verify")] = "clearly_eligible",
    households: Annotated[int, typer.Option(min=1)] = 2000,
    data_dir: Annotated[Path, typer.Option()] = Path("var/demo"),
) -> None:
    """Start the sandbox, verify one scenario household through HubClient, print the report, stop."""
    from gateway.client import HubClient
    from gateway.demo import print_report
    from gateway.sandbox import Sandbox

    async def run() -> dict[str, Any]:
        box = Sandbox(data_dir=data_dir, port=0, households=households)
        try:
            document = await box.start()
            chosen = next((s for s in document["scenarios"] if s["name"] == scenario), None)
            if chosen is None:
                raise typer.BadParameter(f"no scenario named {scenario!r}")
            body = {
                "case_id": f"{chosen['region']}-demo-000001",
                "purpose": chosen["purpose"],
                "region": chosen["region"],
                "operator": "demo-operator",
                "household": chosen["household"],
            }
            async with HubClient.from_sandbox(box.sandbox_json) as client:
                report = await client.verify(body)
            return {"scenario": chosen, "report": report}
        finally:
            await box.stop()

    result = asyncio.run(run())
    # Wide enough for the tables when the output is not a terminal (make demo piped, CI logs).
    print_report(Console(width=max(console.width, 110)), result["report"], scenario=result["scenario"])
