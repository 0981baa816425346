"""The processes a benchmark runs against: the simulated agencies (``bench._agencies``) and the hub under
uvicorn, configured the way an operator configures it (``HEDUI_*`` environment variables), on a fresh
SQLite file or a fresh PostgreSQL database; and the CPU time each of them used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.testkit.population import Household
from bench._population import POPULATION_SEED, PURPOSE, bench_households, consent_registrations
from bench.harness import LoadResult, drive
from gateway.audit import AuditLog, LogKey, log_origin
from gateway.consent import ConsentService
from gateway.envelope import HubKeys, generate_member_jwks
from gateway.keydir import init_hub_key_dir
from gateway.members import MemberRegistry
from gateway.sandbox import SANDBOX_MEMBERS
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from gateway.store.database import migrate_async

POSTGRES_ADMIN_URL = os.environ.get("HEDUI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 10.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all probed at once, so none is handed out twice)."""
    with contextlib.ExitStack() as probes:
        sockets = [probes.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]


def _process_table() -> dict[int, tuple[int, str, float, float]]:
    """pid -> (parent pid, command line, own CPU seconds, CPU seconds of its reaped children), from
    /proc/<pid>/stat (proc(5): fields 4, 14 + 15 and 16 + 17) and /proc/<pid>/cmdline."""
    ticks = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, str, float, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        # The command name in parentheses may hold spaces: count the fields after it.
        fields = stat.rsplit(")", 1)[1].split()
        own = (int(fields[11]) + int(fields[12])) / ticks
        reaped = (int(fields[13]) + int(fields[14])) / ticks
        table[int(entry.name)] = (int(fields[1]), command, own, reaped)
    return table


def cpu_seconds(pid: int, *, descendants: bool = True) -> dict[int, float]:
    """CPU seconds used so far by ``pid`` and (unless told not to) its live descendants, such as uvicorn's
    worker processes, by pid."""
    table = _process_table()
    used: dict[int, float] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        if current in table:
            used[current] = table[current][2]
        if descendants:
            pending.extend(child for child, (parent, *_) in table.items() if parent == current)
    return used


def postgres_cpu_seconds() -> dict[int, float]:
    """CPU seconds used so far by the PostgreSQL server on this machine, by pid: the postmaster (with the
    time of the backends it has reaped, so a connection that closed during a measurement still counts),
    its background processes and its live backends (their titles read ``postgres: ...``)."""
    used: dict[int, float] = {}
    for pid, (_, command, own, reaped) in _process_table().items():
        if command.startswith("postgres: "):
            used[pid] = own
        elif command.split(" ", 1)[0].endswith("/postgres"):  # the postmaster, started by its full path
            used[pid] = own + reaped
    return used


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent outside idle and iowait (all CPUs), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    # user nice system idle iowait irq softirq steal ...: busy = total - idle - iowait
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


class AgencyProcess:
    """The five simulated agencies serving a deterministic population, in a child process."""

    def __init__(self, process: asyncio.subprocess.Process, urls: dict[str, str]) -> None:
        self._process = process
        self.urls = urls

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    async def start(cls, households: int, as_of: date) -> AgencyProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._agencies",
            f"--households={households}",
            f"--seed={POPULATION_SEED}",
            f"--as-of={as_of.isoformat()}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT_S)
        if not line:
            await process.wait()
            raise RuntimeError(f"the agency process exited with status {process.returncode}")
        return cls(process, json.loads(line)["agencies"])

    async def set_latency(self, latency_ms: float, agency: str | None = None) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        command: dict[str, Any] = {"latency_ms": latency_ms}
        if agency is not None:
            command["agency"] = agency
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        await self._process.stdin.drain()
        if not json.loads(await self._process.stdout.readline()).get("ok"):
            raise RuntimeError("the agency process refused the latency setting")

    async def request_counts(self) -> dict[str, int]:
        """Requests each agency has served so far (health checks left out)."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(b'{"counts": true}\n')
        await self._process.stdin.drain()
        answer = json.loads(await self._process.stdout.readline())
        return {str(name): int(count) for name, count in answer["requests"].items()}

    async def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()  # end of input: the agencies shut down cleanly
        try:
            await asyncio.wait_for(self._process.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            await _stop(self._process)


@dataclass(frozen=True, slots=True)
class HubSetup:
    """A hub's key directory and database, with one local MIS member registered (the sandbox's)."""

    settings_env: dict[str, str]
    hub_id: str
    keys: HubKeys
    member_id: str
    member_private_jwks: dict[str, Any]


async def prepare_hub(
    directory: Path,
    database_url: str,
    agencies: Mapping[str, str],
    households: Sequence[Household],
    purposes: Sequence[str] = (PURPOSE,),
) -> HubSetup:
    """Keys, migrated schema, the sandbox's local MIS member and the consents of ``households`` for
    ``purposes`` granted to it, all before any hub process starts (so that several uvicorn workers never race
    to migrate)."""
    keys = init_hub_key_dir(directory / "keys")
    await migrate_async(database_url)
    member = SANDBOX_MEMBERS["mis"]
    private, public = generate_member_jwks()
    database = Database(database_url)
    try:
        record = await MemberRegistry(database).add(
            str(member["id"]), role=str(member["role"]), region=member["region"], public_jwks=public, name="bench"
        )
        audit = AuditLog(
            database,
            log_key=LogKey.load(directory / "keys", name=log_origin(DEFAULT_HUB_ID)),
            subject_pepper=keys.subject_pepper,
        )
        try:
            consents = ConsentService(database, keys, hub_id=DEFAULT_HUB_ID, audit=audit)
            await consents.register(consent_registrations(households, record.member_id, purposes), controller=record)
        finally:
            await audit.aclose()
    finally:
        await database.dispose()
    env = {
        "HEDUI_HUB_ID": DEFAULT_HUB_ID,
        "HEDUI_DATABASE_URL": database_url,
        "HEDUI_KEY_DIR": str(directory / "keys"),
        "HEDUI_AGENCIES": json.dumps(dict(agencies)),
        "HEDUI_MIGRATE_ON_START": "false",
    }
    return HubSetup(env, DEFAULT_HUB_ID, keys, str(member["id"]), private)


class HubProcess:
    """``uvicorn gateway.app:create_app`` with ``workers`` processes, as ``hedui serve`` runs it but without
    the access log (one line per request would cost the hub CPU the benchmark means to measure)."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self._process = process
        self.base_url = base_url

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    async def start(cls, setup: HubSetup, *, port: int, public_url: str, workers: int = 1) -> HubProcess:
        """Start on ``port``. ``public_url`` is where clients reach the hub (a load balancer's URL in front
        of several processes): the OAuth2 issuer and token endpoint derive from it, so every process behind
        one balancer must share it."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.app:create_app",
            "--factory",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={workers}",
            "--log-level=warning",
            "--no-access-log",
            env={**os.environ, **setup.settings_env, "HEDUI_PUBLIC_URL": public_url},
        )
        hub = cls(process, f"http://127.0.0.1:{port}")
        try:
            await hub._wait_until_ready()
        except BaseException:
            await _stop(process)
            raise
        return hub

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    raise RuntimeError(f"the hub exited with status {self._process.returncode}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.base_url}/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError("the hub did not become ready")

    async def stop(self) -> None:
        await _stop(self._process)


async def _admin(statement: str) -> None:
    # CREATE / DROP DATABASE cannot run inside a transaction block.
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one run (as tests/conftest.py makes them), dropped afterwards."""
    name = f"hedui_bench_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def database(kind: str, directory: Path) -> AsyncIterator[str]:
    """A fresh database URL: ``sqlite`` (a file in ``directory``, the embedded default) or ``postgres``."""
    if kind == "postgres":
        async with postgres_database() as url:
            yield url
    elif kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'hedui.db'}"
    else:
        raise ValueError(f"unknown database kind {kind!r}")


@dataclass(frozen=True, slots=True)
class Deployment:
    """How the hub runs: ``processes`` uvicorn processes on ports of their own (the load generator spreads
    requests over them round-robin, as a load balancer would), each with ``workers`` worker processes
    sharing its port (``uvicorn --workers``, what ``hedui serve --workers`` runs)."""

    processes: int = 1
    workers: int = 1

    @property
    def label(self) -> str:
        if self.processes == 1:
            return "1 process" if self.workers == 1 else f"uvicorn --workers {self.workers}"
        return f"{self.processes} processes, round-robin" + (f" x {self.workers} workers" if self.workers > 1 else "")


class Stack:
    """Agencies, a prepared hub database and key directory, and the hub processes serving them."""

    def __init__(self, agencies: AgencyProcess, setup: HubSetup) -> None:
        self.agencies = agencies
        self.setup = setup
        self.deployment = Deployment(processes=0)
        self.hubs: list[HubProcess] = []

    @property
    def base_urls(self) -> list[str]:
        return [hub.base_url for hub in self.hubs]

    def watch(self) -> CpuWatch:
        """What a measurement's CPU columns cover: generator (this process), hub, agencies, PostgreSQL."""
        url = make_url(self.setup.settings_env["HEDUI_DATABASE_URL"])
        return CpuWatch(
            {"generator": (os.getpid(),), "hub": tuple(hub.pid for hub in self.hubs), "agencies": (self.agencies.pid,)},
            postgres=url.get_backend_name() == "postgresql",
        )

    async def deploy(self, deployment: Deployment) -> None:
        """Stop the running hub processes and start ``deployment`` (nothing to do if it is running)."""
        if deployment == self.deployment:
            return
        await self.stop_hubs()
        ports = free_ports(deployment.processes)
        # The generator's round-robin plays the load balancer; the first process stands in for its URL.
        public_url = f"http://127.0.0.1:{ports[0]}"
        starting = (
            HubProcess.start(self.setup, port=port, public_url=public_url, workers=deployment.workers) for port in ports
        )
        self.hubs = list(await asyncio.gather(*starting))
        self.deployment = deployment

    async def stop_hubs(self) -> None:
        await asyncio.gather(*(hub.stop() for hub in self.hubs))
        self.hubs, self.deployment = [], Deployment(processes=0)


@contextlib.asynccontextmanager
async def hub_stack(
    *, households: int, as_of: date, database_kind: str, deployment: Deployment | None = None
) -> AsyncIterator[Stack]:
    """Start the agency process, prepare a fresh database and key directory, start the hub; tear it all
    down afterwards (the temporary directory, the processes, the PostgreSQL database)."""
    with tempfile.TemporaryDirectory(prefix="hedui-bench-") as temporary:
        directory = Path(temporary)
        agencies = await AgencyProcess.start(households, as_of)
        try:
            async with database(database_kind, directory) as url:
                setup = await prepare_hub(directory, url, agencies.urls, bench_households(households, as_of))
                stack = Stack(agencies, setup)
                try:
                    await stack.deploy(deployment or Deployment())
                    yield stack
                finally:
                    await stack.stop_hubs()
        finally:
            await agencies.stop()


@dataclass(frozen=True, slots=True)
class CpuWatch:
    """The processes whose CPU time a measurement reports, by name, and whether to report the PostgreSQL
    server's (as ``postgres``: the whole server, so other users of it count there too)."""

    pids: Mapping[str, Sequence[int]]
    postgres: bool = False

    def counters(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far per group, by pid (the machine's busy time under pid 0)."""
        # The generator's children are the hub and the agencies: count the generator's own process only.
        own = os.getpid()
        counters = {
            name: {pid: used for root in roots for pid, used in cpu_seconds(root, descendants=root != own).items()}
            for name, roots in self.pids.items()
        }
        if self.postgres:
            counters["postgres"] = postgres_cpu_seconds()
        counters["machine"] = {0: machine_busy_seconds()}
        return counters


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    # Per process: one that started meanwhile counts whole; one that ended meanwhile is lost (unknowable).
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


async def measured(
    call: Callable[[int], Awaitable[None]],
    *,
    count: int,
    concurrency: int,
    duration_s: float,
    watch: CpuWatch | None = None,
) -> tuple[LoadResult, dict[str, float]]:
    """:func:`bench.harness.drive`, plus the CPU used meanwhile by each watched process, by PostgreSQL, by
    the whole machine and by everything else on it ("other": other users of the machine skew the numbers),
    in percent of one core (the machine's ceiling is 100 x its CPU count)."""
    before = watch.counters() if watch is not None else {}
    result = await drive(call, count=count, concurrency=concurrency, duration_s=duration_s)
    if watch is None:
        return result, {}
    after = watch.counters()
    used = {name: 100 * _used(before[name], after[name]) / result.elapsed_s for name in after}
    # /proc counts in clock ticks (10 ms): "other" is exact to a few percent, and never below zero.
    used["other"] = max(0.0, used["machine"] - sum(value for name, value in used.items() if name != "machine"))
    return result, {f"cpu_{name}_pct": value for name, value in used.items()}
