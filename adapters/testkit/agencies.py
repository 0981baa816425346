"""The five simulated agencies, started together on loopback ports (used by the sandbox and the tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web

from adapters.testkit import banking, civil_affairs, housing, hukou, tax
from adapters.testkit.faults import FaultInjector, FaultSettings
from adapters.testkit.population import Population
from adapters.testkit.server import RunningAgency, start_agency

AppFactory = Callable[[Population, FaultInjector], web.Application]

AGENCY_APPS: Mapping[str, AppFactory] = {
    "hukou": hukou.create_app,
    "civil_affairs": civil_affairs.create_app,
    "tax": tax.create_app,
    "housing": housing.create_app,
    "banking": banking.create_app,
}


async def start_agencies(
    population: Population,
    *,
    host: str = "127.0.0.1",
    faults: Mapping[str, FaultSettings] | None = None,
) -> dict[str, RunningAgency]:
    """Start every simulated agency on its own free port; all accept connections when this returns."""
    faults = faults or {}
    injectors = {name: FaultInjector(faults.get(name)) for name in AGENCY_APPS}
    running = await asyncio.gather(
        *(
            start_agency(name, factory(population, injectors[name]), injectors[name], host)
            for name, factory in AGENCY_APPS.items()
        )
    )
    return {agency.name: agency for agency in running}


async def stop_agencies(agencies: Mapping[str, RunningAgency]) -> None:
    await asyncio.gather(*(agency.stop() for agency in agencies.values()))
