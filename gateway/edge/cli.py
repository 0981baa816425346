"""``hedui edge``: make an edge node's keys, run it, check its audit log (docs/federation.md)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli_common import console, print_log_verification
from gateway.cli_common import fail as _fail
from gateway.errors import EnvelopeInvalid, HeduiError, NotFound

edge_app = typer.Typer(help="Agency edge nodes (docs/federation.md).", no_args_is_help=True)
edge_audit_app = typer.Typer(help="The edge node's own audit log.", no_args_is_help=True)
edge_app.add_typer(edge_audit_app, name="audit")
EDGE_FILE = "edge.json"


@edge_app.command("init")
def edge_init(
    member_id: Annotated[str, typer.Option(help="The edge's (agency's) member id, CN/<class>/<code>/<subsystem>")],
    key_dir: Annotated[Path, typer.Option(help="Directory for the edge's private keys")],
    out: Annotated[Path | None, typer.Option(help="Also write the public JWKS to this file")] = None,
) -> None:
    """Make the edge's keys (signing, encryption, log key, at-rest secrets); print its PUBLIC JWKS, which the
    hub operator registers with `hedui members add ID --role agency --jwks FILE`."""
    from gateway.ids import MemberId
    from gateway.keydir import init_hub_key_dir

    try:
        MemberId.parse(member_id)
        keys = init_hub_key_dir(key_dir)
    except HeduiError as exc:
        raise _fail(exc) from exc
    document = json.dumps(keys.public_jwks(), indent=2)
    if out is not None:
        out.write_text(document + "\n", encoding="utf-8")
    typer.echo(document)


@edge_app.command("serve")
def edge_serve(
    adapter: Annotated[str, typer.Option(help="The adapter (entry point of hedui.adapters) this edge runs")],
    agency_url: Annotated[str, typer.Option(help="Base URL of the agency system, inside its network")],
    member_id: Annotated[str, typer.Option(help="The edge's (agency's) member id")],
    key_dir: Annotated[Path, typer.Option(help="The edge's key directory (`hedui edge init`)")],
    hub: Annotated[str, typer.Option(help="Base URL of the hub (its signed federation metadata is fetched)")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 9443,
    data_dir: Annotated[Path, typer.Option(help="Audit log, replay cache, cached metadata")] = Path("var/edge"),
    purpose: Annotated[
        list[str] | None, typer.Option(help="A purpose this edge serves (repeatable; default: all covering it)")
    ] = None,
    hub_jwks: Annotated[
        Path | None, typer.Option(help="Pin the hub's public JWKS (else trust the first metadata fetched)")
    ] = None,
    timeout_s: Annotated[float, typer.Option(help="Deadline of one agency query")] = 5.0,
    fd: Annotated[int | None, typer.Option(help="Serve on this inherited listening socket", hidden=True)] = None,
) -> None:
    """Run one adapter as an edge node: it answers only queries signed by the hub, attested and audited."""
    import uvicorn

    from gateway.edge.node import EdgeConfig, create_edge_app
    from gateway.logs import configure_logging

    configure_logging()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / EDGE_FILE).write_text(json.dumps({"member_id": member_id, "adapter": adapter}) + "\n")
    config = EdgeConfig(
        adapter=adapter,
        agency_url=agency_url,
        member_id=member_id,
        key_dir=key_dir,
        hub_url=hub,
        data_dir=data_dir,
        purposes=frozenset(purpose) if purpose else None,
        timeout_s=timeout_s,
        pinned_hub_jwks=json.loads(hub_jwks.read_text(encoding="utf-8")) if hub_jwks else None,
    )
    app = create_edge_app(config)
    if fd is None:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
        return
    # A socket bound by the parent (the sandbox): its port is known before this process starts.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    server.run(sockets=[socket.socket(fileno=fd)])


@edge_audit_app.command("verify")
def edge_audit_verify(
    data_dir: Annotated[Path, typer.Option(help="The edge's data directory")] = Path("var/edge"),
    key_dir: Annotated[Path | None, typer.Option(help="The edge's key directory (holds the log key)")] = None,
    verifier_key: Annotated[
        list[str] | None, typer.Option(help="C2SP verifier key of the edge's log, obtained independently (repeatable)")
    ] = None,
) -> None:
    """Recompute the edge's log from its entries and check every signed checkpoint; exit 1 on the first fault."""
    from gateway.audit import LogKey, log_origin
    from gateway.edge.node import DATABASE_FILE

    def verifier_keys() -> list[str]:
        if verifier_key:
            return verifier_key
        if key_dir is None:
            raise typer.BadParameter("give --key-dir or --verifier-key")
        member_id = json.loads((data_dir / EDGE_FILE).read_text(encoding="utf-8"))["member_id"]
        return [LogKey.load(key_dir, name=log_origin(member_id)).verifier_key()]

    print_log_verification(f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}", verifier_keys)


def report_verify(
    file: Annotated[Path, typer.Argument(help="A report as received (the opened JSON body)")],
    federation: Annotated[
        Path | None, typer.Option(help="Signed federation metadata (`hedui federation export`)")
    ] = None,
    hub: Annotated[str | None, typer.Option(help="Fetch the metadata from this hub instead")] = None,
    hub_jwks: Annotated[
        Path | None, typer.Option(help="The hub's public JWKS, obtained independently, to check the metadata")
    ] = None,
) -> None:
    """Check every source's attestation against the federation metadata; say which sources are
    agency-attested. Exit 1 if any attestation fails."""
    import httpx

    from gateway.edge.trust import verify_federation
    from gateway.edge.verify import check_report

    try:
        if federation is not None:
            token = federation.read_text(encoding="ascii").strip()
        elif hub is not None:
            response = httpx.get(f"{hub.rstrip('/')}/v1/federation", timeout=10.0)
            response.raise_for_status()
            token = response.text
        else:
            raise typer.BadParameter("give --federation FILE or --hub URL")
        anchor = json.loads(hub_jwks.read_text(encoding="utf-8")) if hub_jwks is not None else None
        claims = verify_federation(token, anchor)
        checks = check_report(json.loads(file.read_text(encoding="utf-8")), claims)
    except HeduiError as exc:
        raise _fail(exc) from exc
    for check in checks:
        if check.problem is not None:
            console.print(f"[red]FAIL[/red] {check.adapter:14} {check.problem}", highlight=False)
        elif check.attested_by is not None:
            console.print(f"ok   {check.adapter:14} attested by {check.attested_by}", highlight=False)
        else:
            console.print(f"--   {check.adapter:14} fetched by the hub (no attestation)", highlight=False)
    attested = sum(1 for c in checks if c.attested_by)
    console.print(f"{attested} of {len(checks)} sources agency-attested", highlight=False)
    if any(not check.ok for check in checks):
        raise typer.Exit(code=1)


def report_facts(
    verification_id: Annotated[str, typer.Argument(help="The verification whose attested facts to check")],
    database_url: Annotated[str | None, typer.Option(help="Default: HEDUI_DATABASE_URL")] = None,
    key_dir: Annotated[Path | None, typer.Option(help="The hub's key directory (default: HEDUI_KEY_DIR)")] = None,
) -> None:
    """For an auditor at the hub: recompute the digest of the facts the hub stored for each edge source of a
    verification and check them against the agency's attestation in the stored report (no facts are shown).
    Exit 1 on any mismatch."""
    from gateway.edge.attestation import facts_digest, verify_attestation
    from gateway.edge.source import AttestedFactsStore
    from gateway.envelope import HubKeys
    from gateway.members import MemberRegistry
    from gateway.settings import Settings
    from gateway.store import Database
    from gateway.store.at_rest import open_at_rest
    from gateway.store.models import Verification

    settings = Settings()

    async def run() -> list[tuple[str, str, str]]:
        storage_key = HubKeys.load(key_dir or settings.key_dir).storage_key
        database = Database(database_url or settings.database_url)
        try:
            stored = await AttestedFactsStore(database, lambda: storage_key).rows(verification_id)
            async with database.session() as session:
                row = await session.get(Verification, verification_id)
            if row is None or row.report_sealed is None:
                raise NotFound("no stored report of that verification")
            report = json.loads(open_at_rest(storage_key, row.report_sealed, verification_id.encode()))
            attestations = {s["adapter"]: s.get("attestation") for s in report["sources"]}
            members = MemberRegistry(database)
            results = []
            for facts in stored:
                problem = "ok"
                try:
                    record = await members.get(facts.edge_member)
                    token = attestations.get(facts.adapter)
                    if not isinstance(token, str):
                        raise EnvelopeInvalid("the stored report carries no attestation for this source")
                    verify_attestation(
                        token,
                        record.public_jwks,
                        facts=facts.facts,
                        expect={"iss": facts.edge_member, "verification_id": verification_id, "adapter": facts.adapter},
                    )
                    if facts_digest(facts.facts) != facts.facts_digest:
                        raise EnvelopeInvalid("the stored digest does not match the stored facts")
                except HeduiError as exc:
                    problem = f"FAIL {exc.code}: {exc.detail}"
                results.append((facts.adapter, facts.edge_member, problem))
            return results
        finally:
            await database.dispose()

    try:
        results = asyncio.run(run())
    except HeduiError as exc:
        raise _fail(exc) from exc
    for adapter, member, outcome in results:
        console.print(f"{adapter:14} {member}  {outcome}", highlight=False)
    console.print(f"{len(results)} attested sources checked", highlight=False)
    if any(outcome != "ok" for _, _, outcome in results):
        raise typer.Exit(code=1)
