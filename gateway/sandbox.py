"""``hedui sandbox``: the hub, the five simulated agencies and the synthetic population on loopback.

When everything accepts connections, ``<data-dir>/sandbox.json`` is written (atomically); it is removed
again at shutdown, so its presence means "the sandbox is up". Integrators and outside tests read it for the
base URL, the member ids, the members' private JWKS files and the scenarios.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from adapters.testkit.agencies import start_agencies, stop_agencies
from adapters.testkit.faults import FaultSettings
from adapters.testkit.population import Population, generate
from adapters.testkit.server import RunningAgency
from gateway.app import create_app
from gateway.batch.sample import enrolled_households, register_review_consents, write_batch_file
from gateway.consent.seed import UNCONSENTED_SCENARIOS, register_scenario_consents
from gateway.console.accounts import add_user as add_console_user
from gateway.context import HubContext
from gateway.edge.sandbox import SandboxEdge, edge_document
from gateway.edge.source import EdgeAgency
from gateway.envelope import generate_member_jwks
from gateway.errors import ConfigurationError
from gateway.http_protocol import HTTP_PROTOCOL
from gateway.keydir import ensure_hub_key_dir
from gateway.meanstest.request import CATEGORIES
from gateway.plugins import plugins
from gateway.registry.seed import seed_from_population
from gateway.settings import DEFAULT_HUB_ID, Settings

# Sandbox members: synthetic unified social credit codes with valid GB 32100 check characters.
# "mis" is the local MIS of Beijing Dongcheng; one more local MIS per other region of the population, so each
# scenario is requested by the office of its own region ("member" in each scenario of sandbox.json).
SANDBOX_MEMBERS: dict[str, dict[str, str | None]] = {
    "mis": {"id": "CN/GOV/11110101MB12345677/dibao-mis", "role": "local_mis", "region": "110101"},
    "mis_510502": {"id": "CN/GOV/11510502MB76543212/dibao-mis", "role": "local_mis", "region": "510502"},
    "mis_450902": {"id": "CN/GOV/11450902MB24681353/dibao-mis", "role": "local_mis", "region": "450902"},
    "auditor": {"id": "CN/GOV/11100000MB9876543F/audit", "role": "auditor", "region": None},
}
SANDBOX_CONSOLE_USER = "auditor"
_MIS_BY_REGION = {str(m["region"]): name for name, m in SANDBOX_MEMBERS.items() if m["role"] == "local_mis"}


@dataclass
class Sandbox:
    data_dir: Path = Path("var/sandbox")
    host: str = "127.0.0.1"
    port: int = 8080
    households: int = 2000
    seed: int = 20260701
    as_of: date = field(default_factory=date.today)
    faults: dict[str, FaultSettings] = field(default_factory=dict)
    hub_settings: dict[str, Any] = field(default_factory=dict)  # overrides of Settings fields
    queue_url: str = "database"  # the batch work queue; with nats:// batches wait for `hedui worker` processes
    edges: tuple[str, ...] = ()  # agencies run behind edge nodes, each in its own process (docs/federation.md)
    remote_edges: dict[str, EdgeAgency] = field(default_factory=dict)  # edges run elsewhere, by the caller
    # Agencies the caller runs (name -> URL), e.g. an adapter plugin's simulated agency: served like the five
    # (in-process, or behind an edge when named in ``edges``); their categories join the seeded consents.
    extra_agencies: dict[str, str] = field(default_factory=dict)

    population: Population | None = None
    agencies: dict[str, RunningAgency] = field(default_factory=dict)
    base_url: str = ""
    _app: FastAPI | None = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _edges: list[SandboxEdge] = field(default_factory=list)

    @property
    def sandbox_json(self) -> Path:
        return self.data_dir / "sandbox.json"

    @property
    def hub(self) -> HubContext:
        assert self._app is not None
        hub: HubContext = self._app.state.hub
        return hub

    async def start(self) -> dict[str, Any]:
        """Start everything; returns the sandbox.json document once all of it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox_json.unlink(missing_ok=True)
        self.population = await asyncio.to_thread(generate, self.seed, self.households, self.as_of)
        self.agencies = await start_agencies(self.population, host=self.host, faults=self.faults)
        key_dir = self.data_dir / "keys"
        ensure_hub_key_dir(key_dir)
        database = self.data_dir / "hedui.db"
        for stale in (database, database.with_name("hedui.db-wal"), database.with_name("hedui.db-shm")):
            stale.unlink(missing_ok=True)
        # Bind first, so that the hub knows its own URL (its OAuth2 issuer id) even on a free port (0).
        listener = socket.create_server((self.host, self.port), reuse_port=False)
        self.base_url = f"http://{self.host}:{listener.getsockname()[1]}"
        self._edges = [SandboxEdge(name, self.data_dir / "edges" / name, self.host) for name in self.edges]
        agency_urls = {name: agency.url for name, agency in self.agencies.items()} | self.extra_agencies
        sources: dict[str, str | EdgeAgency] = dict(agency_urls)
        sources.update({edge.name: edge.prepare() for edge in self._edges})
        sources.update(self.remote_edges)
        settings = Settings(
            hub_id=DEFAULT_HUB_ID,
            key_dir=key_dir,
            public_url=self.base_url,
            agencies=sources,
            **(
                {
                    "database_url": f"sqlite+aiosqlite:///{database}",
                    "queue_url": self.queue_url,
                    "batch_workers": 4 if self.queue_url == "database" else 0,
                }
                | self.hub_settings  # e.g. a PostgreSQL database of its own (bench/batch.py)
            ),
        )
        self._app = app = create_app(settings)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", http=HTTP_PROTOCOL)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise ConfigurationError("the hub did not start")
            await asyncio.sleep(0.02)
        members = await self._register_members()
        for edge in self._edges:
            await edge.register(self.hub.members)
            edge.start(agency_urls[edge.name], self.base_url)
        await asyncio.gather(*(edge.wait_ready() for edge in self._edges))
        reporters = {str(m["region"]): str(m["id"]) for m in SANDBOX_MEMBERS.values() if m["role"] == "local_mis"}
        await seed_from_population(self.hub.registry, self.population, reporters)
        # Every scenario household has signed its 授权书 for its region's office, except no_consent.
        for region, name in _MIS_BY_REGION.items():
            other_regions = {s.name for s in self.population.scenarios if s.region != region}
            await register_scenario_consents(
                self.hub.consents,
                self.population,
                mis=await self.hub.members.get(str(SANDBOX_MEMBERS[name]["id"])),
                skip=UNCONSENTED_SCENARIOS | other_regions,
                categories=(*CATEGORIES, *self._extra_categories()),
            )
        await self._seed_batches()
        console = await self._add_console_user()
        await self._wait_until_reachable()
        document = {**self._document(members), "console": console}
        _write_atomically(self.sandbox_json, json.dumps(document, ensure_ascii=False, indent=2))
        return document

    async def _seed_batches(self) -> None:
        """``dibao.review`` consents of every enrolled household; ``batch_sample.jsonl`` (docs/batch.md)."""
        assert self.population is not None
        mis = {
            region: await self.hub.members.get(str(SANDBOX_MEMBERS[n]["id"])) for region, n in _MIS_BY_REGION.items()
        }
        await register_review_consents(self.hub.consents, self.population, mis)
        region = str(SANDBOX_MEMBERS["mis"]["region"])
        households = enrolled_households(self.population, region)
        write_batch_file(self.data_dir / "batch_sample.jsonl", households, case_prefix=f"{region}-review")

    def worker_environment(self) -> dict[str, str]:
        """The ``HEDUI_*`` settings under which ``hedui worker`` processes serve this sandbox's hub."""
        settings = self.hub.settings
        return {
            "HEDUI_HUB_ID": settings.hub_id,
            "HEDUI_DATABASE_URL": settings.database_url,
            "HEDUI_KEY_DIR": str(settings.key_dir),
            "HEDUI_PUBLIC_URL": settings.public_url,
            "HEDUI_AGENCIES": json.dumps(
                {n: s if isinstance(s, str) else s.model_dump(exclude_none=True) for n, s in settings.agencies.items()}
            ),
            "HEDUI_QUEUE_URL": settings.queue_url,
            "HEDUI_QUEUE_NAME": settings.queue_name,
            "HEDUI_QUEUE_MAX_ATTEMPTS": str(settings.queue_max_attempts),
            "HEDUI_QUEUE_ACK_WAIT_S": str(settings.queue_ack_wait_s),
            "HEDUI_SOURCE_TIMEOUT_S": str(settings.source_timeout_s),
        }

    def edge_pids(self) -> list[int]:
        """The process ids of the running edge nodes (bench/federation.py measures their CPU)."""
        return [edge.process.pid for edge in self._edges if edge.process is not None]

    def _extra_categories(self) -> list[str]:
        return [p.vocabulary.category for p in plugins() if p.adapter in self.extra_agencies]

    async def stop(self) -> None:
        self.sandbox_json.unlink(missing_ok=True)
        await asyncio.gather(*(edge.stop() for edge in self._edges))
        self._edges = []
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await stop_agencies(self.agencies)
        self.agencies = {}

    async def _register_members(self) -> dict[str, dict[str, Any]]:
        members_dir = self.data_dir / "members"
        members_dir.mkdir(mode=0o700, exist_ok=True)
        entries: dict[str, dict[str, Any]] = {}
        for name, member in SANDBOX_MEMBERS.items():
            private_path = members_dir / f"{name}.private.jwks.json"
            public_path = members_dir / f"{name}.public.jwks.json"
            if not private_path.exists():
                private, public = generate_member_jwks()
                _write_atomically(private_path, json.dumps(private, indent=2), mode=0o600)
                _write_atomically(public_path, json.dumps(public, indent=2))
            member_id, role, region = str(member["id"]), str(member["role"]), member["region"]
            await self.hub.members.add(
                member_id, role=role, region=region, public_jwks=json.loads(public_path.read_text()), name=name
            )
            entry: dict[str, Any] = {"id": member_id, "private_jwks": str(private_path.relative_to(self.data_dir))}
            if region is not None:
                entry["region"] = region
            entries[name] = entry
        return entries

    async def _add_console_user(self) -> dict[str, str]:
        """One auditor account for the console (/console), its password in a 0600 file beside sandbox.json."""
        password_path = self.data_dir / "console.password"
        if not password_path.exists():
            _write_atomically(password_path, secrets.token_urlsafe(18) + "\n", mode=0o600)
        password = password_path.read_text(encoding="utf-8").strip()
        await add_console_user(
            self.hub.database,
            self.hub.audit,
            SANDBOX_CONSOLE_USER,
            role="auditor",
            password=password,
            hub_id=self.hub.settings.hub_id,
        )
        return {
            "url": f"{self.base_url}/console",
            "username": SANDBOX_CONSOLE_USER,
            "password_file": str(password_path.relative_to(self.data_dir)),
        }

    async def _wait_until_reachable(self) -> None:
        urls = [f"{self.base_url}/readyz"] + [f"{agency.url}/health" for agency in self.agencies.values()]
        async with httpx.AsyncClient(timeout=5) as client:
            for url in urls:
                response = await client.get(url)
                if response.status_code != 200:
                    raise ConfigurationError(f"{url} answered HTTP {response.status_code}")

    def _document(self, members: dict[str, dict[str, Any]]) -> dict[str, Any]:
        assert self.population is not None
        scenarios = []
        for scenario in self.population.scenarios:
            household = self.population.household(scenario.household_id)
            scenarios.append(
                {
                    "name": scenario.name,
                    "description": scenario.description,
                    "region": scenario.region,
                    "purpose": scenario.purpose,
                    "member": _MIS_BY_REGION[scenario.region],
                    "household": [
                        {"id_number": p.id_number, "name": p.name, "relation": p.relation} for p in household.members
                    ],
                    "expected": dict(scenario.expected),
                }
            )
        document = {
            "base_url": self.base_url,
            "hub": {"id": DEFAULT_HUB_ID, "jwks_url": f"{self.base_url}/.well-known/jwks.json"},
            "members": members,
            "agencies": {name: agency.url for name, agency in self.agencies.items()},
            "scenarios": scenarios,
        }
        if self._edges:
            document["edges"] = edge_document(self._edges)
        return document


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
