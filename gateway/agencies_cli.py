"""``hedui agencies serve``: one or all of the simulated agencies (adapters/testkit) on fixed ports, without
a hub, for a multi-process installation (deploy/compose.yaml, the process-layout test). The sandbox runs the
same agencies in its own process on free ports instead."""

from __future__ import annotations

import asyncio
import signal
from datetime import date
from typing import Annotated

import typer

agencies_app = typer.Typer(help="The simulated agencies (testing and demonstration only).", no_args_is_help=True)


@agencies_app.command("serve")
def agencies_serve(
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Agency to run (repeatable; default: all five)")
    ] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the first agency, the next ones follow; 0: free ports")
    ] = 9001,
    households: Annotated[int, typer.Option(min=1, max=1_000_000)] = 2000,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1)] = 20260701,
    as_of: Annotated[str | None, typer.Option(help="Population date, YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Serve simulated agencies over a deterministic synthetic population until SIGTERM / Ctrl-C; prints
    each agency's URL. A hub reaches them through HEDUI_AGENCIES."""
    from adapters.testkit.agencies import AGENCY_APPS
    from adapters.testkit.faults import FaultInjector
    from adapters.testkit.population import generate
    from adapters.testkit.server import start_agency

    chosen = name or list(AGENCY_APPS)
    unknown = sorted(set(chosen) - set(AGENCY_APPS))
    if unknown:
        raise typer.BadParameter(f"no simulated agency {unknown[0][:32]!r}; known: {', '.join(AGENCY_APPS)}")
    try:
        population_date = date.fromisoformat(as_of) if as_of else date.today()
    except ValueError as exc:
        raise typer.BadParameter("--as-of must be YYYY-MM-DD") from exc

    async def run() -> None:
        population = await asyncio.to_thread(generate, seed, households, population_date)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        running = []
        try:
            for offset, agency in enumerate(chosen):
                injector = FaultInjector()
                app = AGENCY_APPS[agency](population, injector)
                running.append(await start_agency(agency, app, injector, host, port + offset if port else 0))
                typer.echo(f"agency {agency:14} {running[-1].url}")
            await stop.wait()
        finally:
            await asyncio.gather(*(agency.stop() for agency in running))

    asyncio.run(run())
