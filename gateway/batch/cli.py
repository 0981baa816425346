"""``hedui worker`` and ``hedui batch ...`` (docs/batch.md)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gateway import safe_json
from gateway.errors import HeduiError

batch_app = typer.Typer(help="Bulk re-verification: submit a JSON Lines file, follow it, fetch results.")
console = Console()
err_console = Console(stderr=True)

MAX_LINE_BYTES = 65_536
CHUNK = 10_000

HubFrom = Annotated[Path | None, typer.Option("--hub-from", help="sandbox.json of a running sandbox")]
Member = Annotated[str, typer.Option("--member", help="member: a sandbox member name, or the member id with --hub")]
HubUrl = Annotated[str | None, typer.Option("--hub", help="hub base URL (with --member ID --jwks FILE)")]
Jwks = Annotated[Path | None, typer.Option("--jwks", help="the member's private JWKS file (with --hub)")]
HubId = Annotated[str | None, typer.Option("--hub-id", help="the hub's member id (with --hub)")]


def worker(
    queue: Annotated[str | None, typer.Option("--queue", help="'database' or nats://host:port")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="items processed at once")] = 8,
    nice: Annotated[int, typer.Option(min=0, max=19, help="CPU niceness added (the front desk goes first)")] = 10,
) -> None:
    """Process batch items from the work queue until SIGTERM/SIGINT (settings from HEDUI_*)."""
    from gateway.batch.worker import Worker
    from gateway.context import open_hub
    from gateway.logs import configure_logging
    from gateway.settings import Settings

    configure_logging()
    # Batch work is background work: on a machine shared with hub processes, the scheduler serves the
    # interactive requests first (the agencies' quotas are ordered by the shared limiter's priorities).
    os.nice(nice)
    overrides: dict[str, Any] = {"batch_workers": 0}
    if queue is not None:
        overrides["queue_url"] = queue
    settings = Settings(**overrides)

    async def run() -> None:
        hub = await open_hub(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        callbacks = asyncio.create_task(hub.batches.callbacks.run(stop), name="batch-callbacks")
        try:
            await Worker(hub.batches.service, hub.batches.queue, concurrency=concurrency).run(stop)
        finally:
            stop.set()
            await callbacks
            await hub.aclose()

    try:
        asyncio.run(run())
    except HeduiError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(code=1) from exc


def spawn_workers(environment: Mapping[str, str], count: int, concurrency: int = 8) -> list[subprocess.Popen[bytes]]:
    """``count`` ``hedui worker`` processes with these ``HEDUI_*`` settings (the sandbox's NATS mode)."""
    command = [str(Path(sys.executable).with_name("hedui")), "worker", "--concurrency", str(concurrency)]
    return [subprocess.Popen(command, env={**os.environ, **environment}) for _ in range(count)]  # noqa: S603


def _client(hub_from: Path | None, member: str, hub: str | None, jwks: Path | None, hub_id: str | None) -> Any:
    from gateway.client import HubClient
    from gateway.settings import DEFAULT_HUB_ID

    if hub_from is not None:
        return HubClient.from_sandbox(hub_from, member=member)
    if hub is None or jwks is None:
        err_console.print("[red]error[/red] give --hub-from sandbox.json, or --hub URL --member ID --jwks FILE")
        raise typer.Exit(code=2)
    return HubClient(hub, member_id=member, private_jwks=jwks, hub_id=hub_id or DEFAULT_HUB_ID)


def read_batch_file(path: Path, purpose: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The items of a JSON Lines file and its bad lines as (line number, problem code); blank lines are
    skipped. Each item is checked as the hub will check it (shape, GB 11643 numbers), never printing it."""
    from gateway.meanstest.request import parse_verification_request, validate_household

    items: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                item = safe_json.loads(raw, max_bytes=MAX_LINE_BYTES)  # bounded depth, 64-bit ints, no NaN
                if not isinstance(item, dict):
                    raise ValueError("not an object")
                validate_household(parse_verification_request({"purpose": purpose, **item}))
                if item.get("purpose", purpose) != purpose:
                    raise ValueError("another purpose")
            except HeduiError as exc:
                bad.append((number, exc.code))
                continue
            except ValueError:
                bad.append((number, "invalid_request"))
                continue
            items.append(item)
    return items, bad


@batch_app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines: one request per line")],
    purpose: Annotated[str, typer.Option(help="e.g. dibao.review")],
    batch_ref: Annotated[str | None, typer.Option(help="your reference (default: the file name and time)")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="submit the valid lines even if some are bad")] = False,
    callback: Annotated[
        bool, typer.Option(help="a signed completion notification to the member's registered callback URL")
    ] = False,
    hub_from: HubFrom = None,
    member: Member = "mis",
    hub: HubUrl = None,
    jwks: Jwks = None,
    hub_id: HubId = None,
) -> None:
    """Submit a batch file; prints the batch id. Bad lines are listed by number (never their content), and
    nothing is submitted unless --skip-invalid."""
    items, bad = read_batch_file(file, purpose)
    for number, code in bad:
        err_console.print(f"line {number}: {code}")
    if bad and not skip_invalid:
        err_console.print(f"{len(bad)} bad line(s); nothing submitted (use --skip-invalid to submit the rest)")
        raise typer.Exit(code=1)
    if not items:
        err_console.print("no items to submit")
        raise typer.Exit(code=1)
    reference = batch_ref or f"{file.stem[:40]}-{time.strftime('%Y%m%dT%H%M%S')}"

    async def run() -> str:
        async with _client(hub_from, member, hub, jwks, hub_id) as client:
            created = await client.submit_batch(
                reference, purpose, items[:CHUNK], close=len(items) <= CHUNK, callback=callback
            )
            for start in range(CHUNK, len(items), CHUNK):
                await client.add_batch_items(created["batch_id"], items[start : start + CHUNK])
            if len(items) > CHUNK:
                await client.close_batch(created["batch_id"])
            return str(created["batch_id"])

    batch_id = _run(run())
    console.print(batch_id)
    err_console.print(f"{len(items)} items submitted as batch {batch_id} ({reference})")


@batch_app.command("status")
def status(
    batch_id: str,
    watch: Annotated[bool, typer.Option(help="follow with a progress bar until the batch finishes")] = False,
    hub_from: HubFrom = None,
    member: Member = "mis",
    hub: HubUrl = None,
    jwks: Jwks = None,
    hub_id: HubId = None,
) -> None:
    """Counts by state and outcome, throughput, ETA and per-agency throttling."""

    async def run() -> dict[str, Any]:
        async with _client(hub_from, member, hub, jwks, hub_id) as client:
            current = await client.batch_status(batch_id)
            if not watch:
                return dict(current)
            columns = (
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} items/s"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[throttled]}"),
            )
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(batch_id[:8], total=current["total"], rate="-", throttled="")
                while True:
                    counts = current["counts"]
                    progress.update(
                        task,
                        total=current["total"],
                        completed=counts["done"] + counts["failed"] + counts["cancelled"],
                        rate=current["items_per_s"],
                        throttled=_throttling(current.get("throttling", {})),
                    )
                    if current["finished"]:
                        return dict(current)
                    await asyncio.sleep(1.0)
                    current = await client.batch_status(batch_id)

    console.print_json(data=_run(run()))


def _throttling(throttling: Mapping[str, Any]) -> str:
    saturated = [agency for agency, state in throttling.items() if state.get("saturated")]
    return ("at quota: " + " ".join(saturated)) if saturated else ""


@batch_app.command("results")
def results(
    batch_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="JSON Lines file to write")],
    hub_from: HubFrom = None,
    member: Member = "mis",
    hub: HubUrl = None,
    jwks: Jwks = None,
    hub_id: HubId = None,
) -> None:
    """Write every finished item, in item order, with its opened report (or its problem code)."""

    async def run() -> tuple[int, bool]:
        count, complete, after = 0, False, -1
        async with _client(hub_from, member, hub, jwks, hub_id) as client:
            with output.open("w", encoding="utf-8") as handle:
                while True:
                    page = await client.batch_results(batch_id, after=after)
                    for item in page["items"]:
                        handle.write(json.dumps(item, ensure_ascii=False) + "\n")
                    count += len(page["items"])
                    complete = bool(page["complete"])
                    if complete or not page["items"]:
                        return count, complete
                    after = page["next_after"]

    count, complete = _run(run())
    err_console.print(f"{count} results written to {output}" + ("" if complete else " (the batch is not finished)"))


@batch_app.command("cancel")
def cancel(
    batch_id: str,
    hub_from: HubFrom = None,
    member: Member = "mis",
    hub: HubUrl = None,
    jwks: Jwks = None,
    hub_id: HubId = None,
) -> None:
    """Cancel a batch: queued items are not processed."""

    async def run() -> dict[str, Any]:
        async with _client(hub_from, member, hub, jwks, hub_id) as client:
            return dict(await client.cancel_batch(batch_id))

    console.print_json(data=_run(run()))


def _run(coroutine: Any) -> Any:
    try:
        return asyncio.run(coroutine)
    except HeduiError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        for item in exc.extensions.get("items", []):
            err_console.print(f"  item {item['index']}: {item['code']}")
        raise typer.Exit(code=1) from exc
