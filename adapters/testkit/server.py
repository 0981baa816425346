"""Run a simulated agency's aiohttp application on a loopback port, and stop it again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from adapters.rest import PersonResult, create_batch_query_app
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Population


@dataclass(slots=True)
class RunningAgency:
    name: str
    url: str
    faults: FaultInjector
    _runner: web.AppRunner

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    async def stop(self) -> None:
        await self._runner.cleanup()


async def start_agency(
    name: str, app: web.Application, faults: FaultInjector, host: str = "127.0.0.1", port: int = 0
) -> RunningAgency:
    """Start ``app`` (built with ``faults.middleware``) and return once it accepts connections.

    ``port=0`` picks a free port; the real one is in ``RunningAgency.url``.
    """
    # A short shutdown grace: a simulated hang (FaultSettings.hang_s) must not hold up the stop.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server  # aiohttp exposes the bound sockets only here
    assert server is not None
    bound_port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return RunningAgency(name=name, url=f"http://{host}:{bound_port}", faults=faults, _runner=runner)


def create_batch_agency(
    population: Population, faults: FaultInjector, endpoints: Mapping[str, PersonResult]
) -> web.Application:
    """A simulated batch-query agency over ``population``: ``faults`` apply, including another person's record."""
    people = [person.id_number for household in population.households for person in household.members]
    return create_batch_query_app(
        population.as_of,
        endpoints,
        [faults.middleware],
        lambda id_number, asked: faults.whose_record(id_number, people, asked),
    )
