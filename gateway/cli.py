"""The ``hedui`` command (typer)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from gateway.adapter_kit import adapters_app
from gateway.agencies_cli import agencies_app
from gateway.batch import cli as batch_cli
from gateway.cli_common import console, err_console, print_log_verification
from gateway.cli_common import fail as _fail
from gateway.console.cli import console_app
from gateway.edge.cli import edge_app
from gateway.errors import ConfigurationError, HeduiError
from gateway.preflight import config_app, exit_on_configuration_problems, prepare_worker_metrics
from gateway.report.cli import report_app
from gateway.restore import audit_checkpoint, audit_consistency

app = typer.Typer(help="Hedui (核对): federated means-test verification hub.", no_args_is_help=True)
keys_app = typer.Typer(help="The hub's key material.", no_args_is_help=True)
members_app = typer.Typer(help="Federation members.", no_args_is_help=True)
db_app = typer.Typer(help="The hub's database.", no_args_is_help=True)
federation_app = typer.Typer(help="Signed federation metadata.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(members_app, name="members")
app.add_typer(db_app, name="db")
app.add_typer(federation_app, name="federation")
app.add_typer(batch_cli.batch_app, name="batch")
app.command("worker")(batch_cli.worker)
app.add_typer(config_app, name="config")
app.add_typer(agencies_app, name="agencies")
app.add_typer(edge_app, name="edge")
app.add_typer(report_app, name="report")
app.add_typer(adapters_app, name="adapters")
app.add_typer(console_app, name="console")


def _record_operator_action(key_dir: Path, *entries: Any) -> None:
    """Append docs/architecture.md §9 entries (key.rotated, member.changed) for an operator's command to the hub's log
    (HEDUI_DATABASE_URL), signed with the log key of ``key_dir``."""
    from gateway.audit import AuditLog, LogKey, log_origin
    from gateway.envelope import HubKeys
    from gateway.settings import Settings
    from gateway.store import Database, migrate

    settings = Settings()

    async def run() -> None:
        database = Database(settings.database_url)
        log = AuditLog(
            database,
            log_key=LogKey.load(key_dir, name=log_origin(settings.hub_id)),
            subject_pepper=HubKeys.load(key_dir).subject_pepper,
        )
        try:
            for entry in entries:
                await log.append(entry)
        finally:
            await log.aclose()
            await database.dispose()

    migrate(settings.database_url)
    asyncio.run(run())


@keys_app.command("init")
def keys_init(
    key_dir: Annotated[Path | None, typer.Option(help="Key directory (default: HEDUI_KEY_DIR or var/keys)")] = None,
    force: Annotated[bool, typer.Option(help="Replace existing keys (old envelopes stop opening)")] = False,
) -> None:
    """Generate the hub's Ed25519 signing key, X25519 encryption key and at-rest secrets."""
    from gateway.keydir import init_hub_key_dir
    from gateway.settings import Settings

    directory = key_dir or Settings().key_dir
    try:
        keys = init_hub_key_dir(directory, force=force)
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
    from gateway.audit import KeyRotated
    from gateway.envelope import HubKeys, rotate_key_dir
    from gateway.settings import Settings

    settings = Settings()
    directory = key_dir or settings.key_dir
    try:
        before = HubKeys.load(directory)
        signing_kid, encryption_kid = rotate_key_dir(directory, grace_s=grace_s)
        _record_operator_action(
            directory,
            KeyRotated(actor=settings.hub_id, key="signing", old_kid=before.signing_key.kid, new_kid=signing_kid),
            KeyRotated(
                actor=settings.hub_id, key="encryption", old_kid=before.encryption_key.kid, new_kid=encryption_kid
            ),
        )
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
    from gateway.audit import KeyRotated
    from gateway.envelope import retire_key
    from gateway.settings import Settings

    settings = Settings()
    directory = key_dir or settings.key_dir
    try:
        use = retire_key(directory, kid)
        key = "signing" if use == "sig" else "encryption"
        _record_operator_action(directory, KeyRotated(actor=settings.hub_id, key=key, old_kid=kid))
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
    replace_keys: Annotated[
        bool, typer.Option(help="Retire the member's keys that are not in this JWKS (end of a key rotation)")
    ] = False,
    callback_url: Annotated[
        str | None,
        typer.Option(
            help="Where its batches' completion notifications go: https (http only to a loopback host); '' removes it"
        ),
    ] = None,
) -> None:
    """Register a member (or add keys to it) with its public JWKS; the change is audited (member.changed)."""
    from gateway.audit import LOG_KEY_FILE, AuditLog, LogKey, MemberChanged, log_origin
    from gateway.envelope import HubKeys
    from gateway.members import MemberRegistry
    from gateway.members.callback_url import checked_callback_url
    from gateway.settings import Settings
    from gateway.store import Database, migrate

    settings = Settings()

    async def run() -> None:
        database = Database(settings.database_url)
        try:
            record = await MemberRegistry(database).add(
                member_id,
                role=role,
                region=region,
                name=name,
                public_jwks=json.loads(jwks.read_text()),
                replace_keys=replace_keys,
            )
        finally:
            await database.dispose()
        console.print(f"member {record.member_id} ({record.role}) has {len(record.public_jwks['keys'])} key(s)")
        changes.append(
            MemberChanged(
                actor=settings.hub_id,
                member_id=record.member_id,
                change="keys_retired" if replace_keys else "added",
                role=record.role,
                region=record.region,
                kids=tuple(key["kid"] for key in record.public_jwks["keys"]),
            )
        )

    async def set_callback(url: str | None) -> None:
        # Its member.changed entry is written in the transaction that changes it: this needs the hub's log key
        # (checked before anything was written).
        database = Database(settings.database_url)
        log = AuditLog(
            database,
            log_key=LogKey.load(settings.key_dir, name=log_origin(settings.hub_id)),
            subject_pepper=HubKeys.load(settings.key_dir).subject_pepper,
        )
        try:
            record = await MemberRegistry(database).set_callback_url(member_id, url, audit=log, actor=settings.hub_id)
        finally:
            await log.aclose()
            await database.dispose()
        console.print(f"batch callback URL: {record.callback_url or '(none)'}")

    changes: list[Any] = []
    try:
        if callback_url is not None:
            if callback_url:
                checked_callback_url(callback_url)
            if not (settings.key_dir / LOG_KEY_FILE).exists():
                raise ConfigurationError("--callback-url is audited: run it where the hub's keys are (HEDUI_KEY_DIR)")
        migrate(settings.database_url)
        asyncio.run(run())
        # On a machine that holds the hub's keys the change is audited; a registration tool elsewhere
        # (no log key) only writes the member registry.
        if (settings.key_dir / LOG_KEY_FILE).exists():
            _record_operator_action(settings.key_dir, *changes)
        if callback_url is not None:
            asyncio.run(set_callback(callback_url or None))
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
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output")] = None,
) -> None:
    """The hub's OpenAPI document (the committed copy is contracts/openapi/hub.json)."""
    from gateway.app import create_app

    document = json.dumps(create_app().openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(document, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document, encoding="utf-8")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Run the hub (settings from HEDUI_* environment variables). SIGTERM drains: the hub stops accepting,
    finishes the requests it has started (each verification with its audit entries), then exits."""
    exit_on_configuration_problems()  # every problem at once, before a port is bound (docs/operations.md)
    prepare_worker_metrics(workers)  # several workers: /metrics adds up all of them
    import uvicorn

    from gateway.http_protocol import HTTP_PROTOCOL
    from gateway.logs import configure_logging

    configure_logging()
    os.environ["HEDUI_LOG_JSON"] = "true"  # worker processes configure their own logging from it
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        http=HTTP_PROTOCOL,
    )


@app.command()
def sandbox(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
    data_dir: Annotated[Path, typer.Option()] = Path("var/sandbox"),
    households: Annotated[int, typer.Option(min=1)] = 2000,
    queue: Annotated[str, typer.Option(help="batch queue: 'database' (in-process worker) or nats://host:port")] = (
        "database"
    ),
    workers: Annotated[int, typer.Option(min=0, help="`hedui worker` processes started with a NATS queue")] = 1,
    edge: Annotated[str, typer.Option(help="Agencies to run behind edge nodes, e.g. tax,banking")] = "",
) -> None:
    """Run the hub and the five simulated agencies until interrupted; writes <data-dir>/sandbox.json."""
    from gateway.sandbox import Sandbox

    async def run() -> None:
        box = Sandbox(data_dir=data_dir, host=host, port=port, households=households, queue_url=queue)
        processes = []
        box = Sandbox(data_dir=data_dir, host=host, port=port, households=households, edges=_edge_names(edge))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            document = await box.start()
            console.print(f"hub        {document['base_url']}  ({document['hub']['id']})")
            for agency, url in document["agencies"].items():
                console.print(f"agency     {agency:14} {url}")
            for agency, entry in document.get("edges", {}).items():
                console.print(f"edge       {agency:14} {entry['url']}  ({entry['member_id']})")
            console.print(f"sandbox    {box.sandbox_json}  ({len(document['scenarios'])} scenarios)")
            if queue != "database":
                processes = batch_cli.spawn_workers(box.worker_environment(), workers)
            console.print(f"batches    queue {queue}; sample {data_dir / 'batch_sample.jsonl'}")
            console.print("press Ctrl-C to stop")
            await stop.wait()
        finally:
            for process in processes:
                process.terminate()
                process.wait()
            await box.stop()

    asyncio.run(run())


def _edge_names(option: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in option.split(",") if name.strip())


@app.command()
def demo(
    scenario: Annotated[str, typer.Option(help="Scenario to verify")] = "clearly_eligible",
    households: Annotated[int, typer.Option(min=1)] = 2000,
    data_dir: Annotated[Path, typer.Option()] = Path("var/demo"),
    edge: Annotated[str, typer.Option(help="Agencies to run behind edge nodes, e.g. tax,banking")] = "",
) -> None:
    """Start the sandbox, verify one scenario household through HubClient, print the report, stop."""
    from gateway.client import HubClient
    from gateway.demo import print_report
    from gateway.sandbox import Sandbox

    async def run() -> dict[str, Any]:
        box = Sandbox(data_dir=data_dir, port=0, households=households, edges=_edge_names(edge))
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


# -- means-test policies (contracts/policies) ----------------------------------------------------------------

policy_app = typer.Typer(help="Means-test policies (contracts/policies).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _policy_dir(directory: Path | None) -> Path:
    from gateway.contracts import CONTRACTS_DIR

    return directory or CONTRACTS_DIR / "policies"


@policy_app.command("check")
def policy_check(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Policy directory (default contracts/policies)")
    ] = None,
) -> None:
    """Validate every policy file against contracts/policy.schema.json and compile every rule."""
    from rich.markup import escape

    from gateway.errors import ConfigurationError
    from gateway.meanstest.policy import load_policies

    try:
        policies = load_policies(_policy_dir(directory))
    except ConfigurationError as exc:
        for problem in exc.extensions.get("problems", [exc.detail]):
            err_console.print(f"[red]error[/red] {escape(str(problem))}", soft_wrap=True)
        raise typer.Exit(code=1) from exc
    for policy in policies:
        console.print(
            f"ok  {policy.id:28} version {policy.version}  {len(policy.rules)} rules  {policy.source}",
            soft_wrap=True,
            highlight=False,
        )
    console.print(f"{len(policies)} policies valid", highlight=False)


@policy_app.command("simulate")
def policy_simulate(
    policy: Annotated[Path, typer.Option("--policy", help="Draft policy file", exists=True, dir_okay=False)],
    population: Annotated[int, typer.Option("--population", min=1, help="Synthetic households (all regions)")] = 2000,
    seed: Annotated[int, typer.Option(help="Population seed")] = 20260701,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Current policies (default contracts/policies)")
    ] = None,
) -> None:
    """Run a draft policy over the synthetic population and compare it with the current policy of the same id."""
    from rich.markup import escape
    from rich.table import Table

    from adapters.testkit.population import generate
    from gateway.errors import ConfigurationError
    from gateway.meanstest.policy import load_policies, load_policy
    from gateway.meanstest.policy_whatif import simulate

    try:
        draft = load_policy(policy)
        current = load_policies(_policy_dir(directory)).get(draft.id)
    except ConfigurationError as exc:
        for problem in exc.extensions.get("problems", [exc.detail]):
            err_console.print(f"[red]error[/red] {escape(str(problem))}", soft_wrap=True)
        raise typer.Exit(code=1) from exc
    except HeduiError as exc:
        raise _fail(exc) from exc
    result = simulate(draft, current, generate(seed=seed, households=population))
    out = Console(width=max(console.width, 110))  # tables stay readable when piped

    def shown(count: int | None) -> str:
        return "-" if count is None else f"{count:,}"

    out.print(
        f"{draft.id}: current {current.version} (standard {current.standard:,.2f}) vs draft {draft.version} "
        f"(standard {draft.standard:,.2f}), {result.households:,} households of region {draft.region}",
        highlight=False,
        soft_wrap=True,
    )
    rules = Table("rule", "excludes (current)", "excludes (draft)", "sole reason (draft)", title="Households excluded")
    for impact in result.rules:
        rules.add_row(impact.rule, shown(impact.current), shown(impact.draft), f"{impact.draft_only_reason:,}")
    out.print(rules)
    outcomes = Table("recommendation", "current", "draft", "change", title="Recommendations")
    for recommendation, (now, then) in result.outcomes.items():
        outcomes.add_row(recommendation, f"{now:,}", f"{then:,}", f"{then - now:+,}")
    out.print(outcomes)
    if result.changes:
        moves = Table("from", "to", "households", title="Households whose recommendation changes")
        for (before, after), count in sorted(result.changes.items()):
            moves.add_row(before, after, f"{count:,}")
        out.print(moves)
    else:
        out.print("no household's recommendation changes")
    now_gap, then_gap = result.monthly_gap
    out.print(
        f"gap to the standard of eligible households (what dibao pays), yuan/month: current {now_gap:,.2f}, "
        f"draft {then_gap:,.2f} ({then_gap - now_gap:+,.2f})",
        highlight=False,
        soft_wrap=True,
    )


consent_app = typer.Typer(help="Consent records (核对授权书, docs/architecture.md §8).", no_args_is_help=True)
app.add_typer(consent_app, name="consent")


@consent_app.command("import")
def consent_import(
    csv_file: Annotated[
        Path,
        typer.Argument(
            help="CSV export of a county office (columns: docs/consent.md)", exists=True, dir_okay=False, readable=True
        ),
    ],
    grantee: Annotated[str, typer.Option(help="Member id of the local MIS the consents are granted to")],
    database_url: Annotated[str | None, typer.Option(help="Default: HEDUI_DATABASE_URL")] = None,
    key_dir: Annotated[Path | None, typer.Option(help="Hub key directory (default: HEDUI_KEY_DIR)")] = None,
    receipts: Annotated[
        Path | None, typer.Option(help="Write one JSON line per consent: row, consent_id, subject_ref, receipt")
    ] = None,
) -> None:
    """Import consents from a CSV file: every row, or none if any row has an error."""
    from gateway.audit import AuditLog, LogKey, log_origin
    from gateway.consent import ConsentService, import_consents
    from gateway.envelope import HubKeys
    from gateway.errors import ConsentImportInvalid, Forbidden
    from gateway.members import MemberRegistry
    from gateway.settings import Settings
    from gateway.store import Database, migrate

    settings = Settings()
    url = database_url or settings.database_url

    async def run() -> list[dict[str, Any]]:
        database = Database(url)
        try:
            member = await MemberRegistry(database).get(grantee)
            if member.role != "local_mis":
                raise Forbidden("consents are granted to a local MIS member")
            directory = key_dir or settings.key_dir
            keys = HubKeys.load(directory)
            # consent.granted entries go to the hub's log in the import's transaction (the log key signs
            # the checkpoint that covers them).
            audit = AuditLog(
                database,
                log_key=LogKey.load(directory, name=log_origin(settings.hub_id)),
                subject_pepper=keys.subject_pepper,
            )
            try:
                service = ConsentService(database, keys, hub_id=settings.hub_id, audit=audit)
                imported = await import_consents(service, csv_file.read_bytes(), controller=member)
            finally:
                await audit.aclose()
        finally:
            await database.dispose()
        return [
            {"row": row, "consent_id": view.consent_id, "subject_ref": view.subject_ref, "receipt": view.receipt}
            for row, view in imported
        ]

    try:
        migrate(url)
        imported = asyncio.run(run())
    except ConsentImportInvalid as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        for error in exc.extensions["errors"]:
            where = "file" if error["row"] is None else f"row {error['row']}"
            column = f" {error['field']}:" if error["field"] else ":"
            err_console.print(f"  {where}{column} {error['msg']}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from exc
    except HeduiError as exc:
        raise _fail(exc) from exc
    if receipts is not None:
        receipts.write_text("".join(json.dumps(line) + "\n" for line in imported), encoding="utf-8")
    console.print(f"imported {len(imported)} consents granted to {grantee}", highlight=False)


# -- audit log (docs/architecture.md §9) -----------------------------------------------------------------------------

audit_app = typer.Typer(help="The tamper-evident audit log (RFC 9162, C2SP checkpoints).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
audit_app.command("checkpoint")(audit_checkpoint)
audit_app.command("consistency")(audit_consistency)


@audit_app.command("verify")
def audit_verify(
    database_url: Annotated[str | None, typer.Option(help="Default: HEDUI_DATABASE_URL")] = None,
    key_dir: Annotated[Path | None, typer.Option(help="Holds the log key (default: HEDUI_KEY_DIR)")] = None,
    verifier_key: Annotated[
        list[str] | None,
        typer.Option(help="C2SP verifier key to check checkpoints with instead of the key directory's (repeatable)"),
    ] = None,
) -> None:
    """Recompute the whole log from its entries and check every checkpoint; exit 1 naming the first bad entry."""
    from gateway.audit import LogKey, log_origin
    from gateway.settings import Settings

    settings = Settings()
    print_log_verification(
        database_url or settings.database_url,
        lambda: (
            verifier_key or [LogKey.load(key_dir or settings.key_dir, name=log_origin(settings.hub_id)).verifier_key()]
        ),
    )


@audit_app.command("prove")
def audit_prove(
    leaf: Annotated[int, typer.Option("--leaf", min=0, help="Leaf index of the entry")],
    tree_size: Annotated[
        int | None, typer.Option("--tree-size", min=1, help="Prove against the checkpoint of this size")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Default: HEDUI_DATABASE_URL")] = None,
    key_dir: Annotated[Path | None, typer.Option(help="Default: HEDUI_KEY_DIR")] = None,
) -> None:
    """Print an inclusion proof bundle (entry, leaf hash, proof, signed checkpoint) for a third party to check."""
    from gateway.audit import AuditLog, LogKey, log_origin
    from gateway.envelope import HubKeys
    from gateway.errors import NotFound
    from gateway.settings import Settings
    from gateway.store import Database

    settings = Settings()
    directory = key_dir or settings.key_dir

    async def run() -> dict[str, Any]:
        log_key = LogKey.load(directory, name=log_origin(settings.hub_id))
        database = Database(database_url or settings.database_url)
        audit = AuditLog(database, log_key=log_key, subject_pepper=HubKeys.load(directory).subject_pepper)
        try:
            size = tree_size
            if size is None:
                latest = await audit.latest_checkpoint()
                if latest is None or latest.tree_size <= leaf:
                    latest = await audit.checkpoint()  # sign the current tree: it holds the leaf, if it exists
                size = latest.tree_size if latest is not None else leaf + 1
            bundle = await audit.inclusion_proof(leaf, size, with_entry=True)
            if bundle.checkpoint is None:
                raise NotFound(f"no checkpoint was signed at tree size {size}; omit --tree-size to use the latest")
            return {"verifier_key": log_key.verifier_key(), **bundle.to_json()}
        finally:
            await audit.aclose()
            await database.dispose()

    try:
        document = asyncio.run(run())
    except HeduiError as exc:
        raise _fail(exc) from exc
    print(json.dumps(document, indent=2, ensure_ascii=False))


@audit_app.command("check-proof")
def audit_check_proof(
    bundle: Annotated[Path, typer.Argument(help="A JSON bundle written by `hedui audit prove`")],
    verifier_key: Annotated[str, typer.Option(help="The log's C2SP verifier key, obtained independently")],
) -> None:
    """Check an inclusion proof bundle offline: checkpoint signatures, the entry's leaf hash, the proof."""
    from gateway.audit import InclusionProof
    from gateway.errors import ProofInvalid

    try:
        document = json.loads(bundle.read_text(encoding="utf-8"))
        proof = InclusionProof.from_json(document)
        proof.verify(verifier_key)
    except ValueError as exc:
        raise _fail(ProofInvalid("the bundle is not JSON")) from exc
    except HeduiError as exc:
        raise _fail(exc) from exc
    console.print(f"entry {proof.leaf_index} is in the log's tree of size {proof.tree_size}: proof verified")


@audit_app.command("key")
def audit_key(
    key_dir: Annotated[Path | None, typer.Option(help="Default: HEDUI_KEY_DIR")] = None,
    create: Annotated[bool, typer.Option(help="Generate the log key if the directory has none")] = False,
) -> None:
    """Print the log's public key: the C2SP verifier key string and the JWK the hub publishes."""
    from gateway.audit import LOG_KEY_FILE, LogKey, init_log_key, log_origin
    from gateway.settings import Settings

    settings = Settings()
    directory = key_dir or settings.key_dir
    try:
        if create and not (directory / LOG_KEY_FILE).exists():
            init_log_key(directory)
        log_key = LogKey.load(directory, name=log_origin(settings.hub_id))
    except HeduiError as exc:
        raise _fail(exc) from exc
    print(log_key.verifier_key())
    print(json.dumps(log_key.public_jwk()))
