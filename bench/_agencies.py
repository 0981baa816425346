"""The five simulated agencies in a process of their own.

On this 2-core machine the load generator, the hub and the agencies compete for the cores; in their own
process the agencies at least do not share the hub's (or the direct client's) event loop, as real agencies
would not.

    python -m bench._agencies --households 300 --seed 20260701 --as-of 2026-11-22

prints one JSON line ``{"agencies": {name: url}, "pid": ...}`` once every agency accepts connections, then
reads JSON lines on standard input: ``{"latency_ms": 50}`` sets the injected latency of every agency
(``{"latency_ms": 50, "agency": "tax"}`` of one) and is answered with ``{"ok": true}``; ``{"counts": true}``
is answered with ``{"ok": true, "requests": {name: requests served so far}}`` (what a quota counts, read by
bench/batch.py). End of input stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date

from adapters.testkit.agencies import start_agencies, stop_agencies
from adapters.testkit.population import generate


async def _serve(households: int, seed: int, as_of: date) -> None:
    population = generate(seed, households, as_of)
    agencies = await start_agencies(population)
    try:
        print(json.dumps({"agencies": {n: a.url for n, a in agencies.items()}, "pid": os.getpid()}), flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            command = json.loads(line)
            if command.get("counts"):
                requests = {name: agency.faults.total_requests for name, agency in agencies.items()}
                print(json.dumps({"ok": True, "requests": requests}), flush=True)
                continue
            names = [command["agency"]] if "agency" in command else list(agencies)
            for name in names:
                agencies[name].faults.settings.latency_ms = float(command["latency_ms"])
            print(json.dumps({"ok": True}), flush=True)
    finally:
        await stop_agencies(agencies)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._agencies")
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20260701)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    args = parser.parse_args()
    asyncio.run(_serve(args.households, args.seed, args.as_of))


if __name__ == "__main__":
    main()
