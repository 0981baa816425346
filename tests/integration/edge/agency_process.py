"""One simulated agency in a process of its own (the namespace test runs it inside a network namespace):
``python -m tests.integration.edge.agency_process NAME HOST PORT SEED HOUSEHOLDS AS_OF``; serves until
killed, and prints ``ready`` once it accepts connections."""

from __future__ import annotations

import asyncio
import sys
from datetime import date

from adapters.testkit.agencies import AGENCY_APPS
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import generate
from adapters.testkit.server import start_agency


async def main(name: str, host: str, port: int, seed: int, households: int, as_of: date) -> None:
    population = generate(seed, households, as_of)
    injector = FaultInjector(None)
    agency = await start_agency(name, AGENCY_APPS[name](population, injector), injector, host, port)
    print("ready", agency.url, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    name, host, port, seed, households, as_of = sys.argv[1:7]
    asyncio.run(main(name, host, int(port), int(seed), int(households), date.fromisoformat(as_of)))
