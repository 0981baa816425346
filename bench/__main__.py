"""``python -m bench [NAME ...] [options]``: run every benchmark, or the ones named (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

import bench
from bench._summary import SUMMARY_BENCHMARKS, load, render
from bench.harness import RESULTS_DIR, machine, write_results

_NOT_BENCHMARKS = {"harness"}


def discover() -> tuple[dict[str, ModuleType], dict[str, str]]:
    """Benchmark modules by NAME, and the modules that failed to import (name -> error)."""
    found: dict[str, ModuleType] = {}
    broken: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _NOT_BENCHMARKS:
            continue
        try:
            module = importlib.import_module(f"bench.{info.name}")
        except Exception as exc:  # a benchmark whose code has not landed yet must not stop the others
            broken[info.name] = f"{type(exc).__name__}: {exc}"
            continue
        if hasattr(module, "run") or hasattr(module, "main"):
            found[str(getattr(module, "NAME", info.name))] = module
    return found, broken


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part]


def _databases(text: str) -> list[str]:
    kinds = [part for part in text.split(",") if part]
    unknown = sorted(set(kinds) - {"postgres", "sqlite"})
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(f"databases are postgres and sqlite, not {', '.join(unknown) or text!r}")
    return kinds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measured cell (default 3)")
    parser.add_argument("--requests", type=int, default=3000, help="most requests per measured cell (default 3000)")
    parser.add_argument("--concurrency", type=_ints, default=[1, 16, 64], help="client concurrencies (default 1,16,64)")
    parser.add_argument("--latency", type=_floats, default=[0.0, 50.0], help="agency latencies in ms (default 0,50)")
    parser.add_argument("--households", type=int, default=300, help="generated households (default 300)")
    parser.add_argument(
        "--database",
        type=_databases,
        default=["postgres", "sqlite"],
        help="hub databases of overhead, each measured in turn (default postgres,sqlite); fanout uses the first",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory of the JSON results")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Options after "--" go to the main(argv) benchmarks untouched, even those named like the common ones.
    cut = argv.index("--") if "--" in argv else len(argv)
    args, unknown = _parser().parse_known_args(argv[:cut])
    rest = unknown + argv[cut + 1 :]
    found, broken = discover()
    if args.list:
        for name, module in found.items():
            print(f"{name:12} {getattr(module, 'DESCRIPTION', '')}")
        for name, error in broken.items():
            print(f"{name:12} (cannot be imported: {error})")
        return 0
    unknown = [name for name in args.names if name not in found and name not in broken]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join([*found, *broken])}", file=sys.stderr)
        return 2
    selected = args.names or [*found, *broken]
    facts = machine()
    print(
        f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), {facts['memory_gib']} GiB, Python {facts['python']}, "
        f"load average {facts['load_average_1m']:.2f}"
    )
    print("the load generator, the hub, the simulated agencies and PostgreSQL share these CPUs")
    failed = []
    succeeded = []
    run_started = time.perf_counter()
    for name in selected:
        if name in broken:
            print(f"\n== {name}: cannot be imported: {broken[name]}", file=sys.stderr)
            failed.append(name)
            continue
        started = time.perf_counter()
        print(f"\n== {name}", flush=True)
        try:
            _run_one(name, found[name], args, rest)
        except Exception:  # report and go on with the other benchmarks; the exit status says it failed
            traceback.print_exc()
            failed.append(name)
        else:
            succeeded.append(name)
        print(f"== {name}: {time.perf_counter() - started:.1f} s", flush=True)
    if any(name in SUMMARY_BENCHMARKS for name in selected):
        # Only this run's results: a file left by an earlier run must not pass for a measurement of this one.
        print()
        print(render(load(args.out, [name for name in succeeded if name in SUMMARY_BENCHMARKS])))
    print(f"\ntotal: {(time.perf_counter() - run_started) / 60:.1f} minutes for {', '.join(selected)}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _run_one(name: str, module: ModuleType, args: argparse.Namespace, rest: list[str]) -> None:
    if hasattr(module, "run"):
        rows = asyncio.run(module.run(args))
        options = {key: value for key, value in vars(args).items() if key not in {"names", "list", "out"}}
        print(f"results: {write_results(name, rows, options, args.out)}")
        return
    # The main(argv) benchmarks write their JSON where the run's others do (a later --out in rest wins).
    rest = [f"--out={args.out}", *rest]
    if inspect.signature(module.main).parameters:
        status = module.main(rest)
    else:  # a main() that parses sys.argv itself sees what `python -m bench.<name> <options>` would give it
        saved, sys.argv = sys.argv, [f"bench.{name}", *rest]
        try:
            status = module.main()
        finally:
            sys.argv = saved
    if status not in (None, 0):
        raise RuntimeError(f"{name} exited with status {status}")


if __name__ == "__main__":
    sys.exit(main())
