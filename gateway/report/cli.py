"""``hedui report``: print the 核对报告 as PDF with the hub's QR seal, and verify a seal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.edge.cli import report_facts
from gateway.errors import HeduiError

report_app = typer.Typer(help="The printable 核对报告 (PDF with the hub's QR seal).", no_args_is_help=True)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {path} is not a readable JSON report ({type(exc).__name__})", err=True)
        raise typer.Exit(code=1) from None
    if not isinstance(document, dict) or "verification_id" not in document:
        typer.echo(f"error: {path} is not a report (no verification_id)", err=True)
        raise typer.Exit(code=1)
    return document


@report_app.command("print")
def print_report(
    file: Annotated[Path, typer.Argument(help="the report JSON, as the hub returned it")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the PDF to write")] = Path("report.pdf"),
    key_dir: Annotated[Path | None, typer.Option(help="the hub's key directory (default HEDUI_KEY_DIR)")] = None,
) -> None:
    """Render the report as PDF, sealed by the hub's signing key (run where the hub's keys are; members get
    the same PDF from GET /v1/verifications/{id}/report.pdf)."""
    from gateway.envelope import HubKeys
    from gateway.report import render_report, seal_report
    from gateway.settings import Settings

    settings = Settings()
    report = _load_json(file)
    try:
        keys = HubKeys.load(key_dir or settings.key_dir)
        seal = seal_report(report, keys.signing_key, issuer=settings.hub_id)
        output.write_bytes(render_report(report, seal))
    except (HeduiError, OSError) as exc:
        typer.echo(f"error: {getattr(exc, 'code', type(exc).__name__)}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"{output} written (seal: {len(seal)} characters)")


@report_app.command("verify")
def verify_report(
    file: Annotated[Path | None, typer.Argument(help="the report JSON as received (the opened body)")] = None,
    qr: Annotated[str, typer.Option(help="the text of the printed report's QR code (a compact JWS)")] = "",
    report: Annotated[
        Path | None, typer.Option(help="the report JSON, to check the seal's digest (default FILE)")
    ] = None,
    jwks: Annotated[str | None, typer.Option(help="the hub's JWKS for the seal: a file or URL")] = None,
    federation: Annotated[
        Path | None, typer.Option(help="Signed federation metadata, to check agency attestations in FILE")
    ] = None,
    hub: Annotated[str | None, typer.Option(help="Fetch the federation metadata from this hub instead")] = None,
    hub_jwks: Annotated[
        Path | None, typer.Option(help="The hub's public JWKS, obtained independently, to check the metadata")
    ] = None,
) -> None:
    """Check a report: ``--qr`` checks the printed report's seal against the hub's published keys (and the
    report's digest, given the report); ``--federation``/``--hub`` check every source's agency attestation in
    FILE (docs/federation.md). Exit 1 if any check fails."""
    if not qr and federation is None and hub is None:
        typer.echo("error: give --qr TEXT (the printed seal) and/or --federation FILE / --hub URL", err=True)
        raise typer.Exit(code=1)
    if qr:
        _verify_seal(qr, report or file, jwks or (str(hub_jwks) if hub_jwks else None))
    if federation is not None or hub is not None:
        if file is None:
            typer.echo("error: the attestation check needs the report FILE", err=True)
            raise typer.Exit(code=1)
        from gateway.edge.cli import report_verify

        report_verify(file, federation=federation, hub=hub, hub_jwks=hub_jwks)


def _verify_seal(qr: str, report_path: Path | None, jwks: str | None) -> None:
    from gateway.envelope import load_jwks
    from gateway.report import verify_seal
    from gateway.settings import Settings

    source = jwks or f"{Settings().public_url}/.well-known/jwks.json"
    try:
        key_set = load_jwks(_fetch_jwks(source))
        claims = verify_seal(qr, key_set, report=_load_json(report_path) if report_path else None)
    except HeduiError as exc:
        typer.echo(f"invalid: {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"valid: verification {claims['verification_id']} sealed at {claims['issued_at']}")
    typer.echo(f"report_digest {claims['report_digest']}" + (" (matches the report)" if report_path else ""))


def _fetch_jwks(source: str) -> dict[str, Any]:
    import httpx

    from gateway.errors import ReportSealInvalid

    try:
        if source.startswith(("http://", "https://")):
            document = httpx.get(source, timeout=10).raise_for_status().json()
        else:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise ReportSealInvalid("the hub's JWKS could not be read") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ReportSealInvalid("not a JWKS")
    # The log key verifies checkpoints only; the seal is by an envelope signing key.
    return {"keys": [key for key in document["keys"] if key.get("use") == "sig"]}


# docs/federation.md: the auditor's recomputation of the facts agencies attested (gateway/edge/cli.py).
report_app.command("facts")(report_facts)
