"""Profile: where the hub's CPU goes per verification, sampled with py-spy under load (bench/_profile.py),
so that the run that shows the targets also shows what is left of the hub's own cost.

``python -m bench profile -- --profile-seconds 10 --profile-concurrency 16``; for the full set of options,
``python -m bench._profile --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from bench._profile import profile
from bench.harness import RESULTS_DIR, write_results

NAME = "profile"
DESCRIPTION = "where the hub's CPU goes per verification (py-spy, 10 s at concurrency 16, PostgreSQL)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile", description=__doc__)
    parser.add_argument("--profile-seconds", dest="seconds", type=float, default=10.0)
    parser.add_argument("--profile-concurrency", dest="concurrency", type=int, default=16)
    parser.add_argument("--profile-latency", dest="latency", type=float, default=0.0, help="agency latency in ms")
    parser.add_argument("--profile-database", dest="database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args, _ = parser.parse_known_args(argv)  # options meant for other benchmarks of the same run
    args.requests, args.households, args.keep = 20_000, 300, None
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        print("py-spy is not installed (.venv/bin/pip install -e '.[dev]'): no profile")
        rows: list[dict[str, object]] = [{"table": "error", "what": "py-spy is not installed"}]
    else:
        rows = asyncio.run(profile(args, py_spy))
    write_results(NAME, rows, {k: str(v) for k, v in vars(args).items()}, args.out)
    return 0
