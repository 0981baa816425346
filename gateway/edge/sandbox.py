"""Edge nodes of ``hedui sandbox --edge tax,banking``: each agency named runs behind its own edge process,
with its own keys, registered with the hub as an agency member (docs/sandbox.md, docs/federation.md)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.edge.source import EdgeAgency
from gateway.envelope import HubKeys
from gateway.errors import ConfigurationError
from gateway.keydir import init_hub_key_dir
from gateway.members import MemberRegistry

# Synthetic unified social credit codes with valid GB 32100 check characters, one per agency.
EDGE_MEMBERS = {
    "hukou": "CN/GOV/11100000MB0348921G/hukou-edge",
    "civil_affairs": "CN/GOV/11100000MB0348922K/civil-affairs-edge",
    "tax": "CN/GOV/11100000MB0348923N/tax-edge",
    "housing": "CN/GOV/11100000MB0348924R/housing-edge",
    "banking": "CN/GOV/11100000MB0348925W/banking-edge",
    "medical_insurance": "CN/GOV/11100000MB03489260/medical-insurance-edge",  # examples/medical_insurance
}


@dataclass
class SandboxEdge:
    """One edge node of the sandbox: bound before the hub starts (so the hub knows its URL), run later."""

    name: str
    directory: Path
    host: str
    member_id: str = ""
    listener: socket.socket | None = None
    process: subprocess.Popen[bytes] | None = None
    public_jwks: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.listener is not None
        return f"http://{self.host}:{self.listener.getsockname()[1]}"

    def prepare(self) -> EdgeAgency:
        """Keys (kept across runs), a listening socket; the hub's source configuration for this edge."""
        if self.name not in EDGE_MEMBERS:
            raise ConfigurationError(f"no sandbox agency named {self.name} to put behind an edge")
        self.member_id = EDGE_MEMBERS[self.name]
        key_dir = self.directory / "keys"
        if not key_dir.exists():
            init_hub_key_dir(key_dir)
        self.public_jwks = HubKeys.load(key_dir).public_jwks()
        self.listener = socket.create_server((self.host, 0))
        return EdgeAgency(edge=self.url, member=self.member_id)

    async def register(self, members: MemberRegistry) -> None:
        await members.add(
            self.member_id, role="agency", region=None, public_jwks=self.public_jwks, name=f"{self.name}-edge"
        )

    def start(self, agency_url: str, hub_url: str) -> None:
        assert self.listener is not None
        data_dir = self.directory / "data"
        for stale in ("edge.db", "edge.db-wal", "edge.db-shm", "federation.jwt"):
            (data_dir / stale).unlink(missing_ok=True)
        log = (self.directory / "edge.log").open("ab")
        fd = self.listener.fileno()
        command = [
            sys.executable,
            "-m",
            "gateway.edge",
            "serve",
            f"--adapter={self.name}",
            f"--agency-url={agency_url}",
            f"--member-id={self.member_id}",
            f"--key-dir={self.directory / 'keys'}",
            f"--hub={hub_url}",
            f"--data-dir={data_dir}",
            f"--fd={fd}",
        ]
        self.process = subprocess.Popen(command, stdout=log, stderr=log, pass_fds=(fd,))  # noqa: S603
        log.close()

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll until the edge answers (an empty POST gets its 415 problem) or its process ends."""
        assert self.process is not None
        async with httpx.AsyncClient(timeout=2.0) as client:
            for _ in range(int(timeout_s / 0.05)):
                if self.process.poll() is not None:
                    raise ConfigurationError(f"the {self.name} edge stopped; see {self.directory / 'edge.log'}")
                try:
                    response = await client.post(f"{self.url}/v1/edge/queries")
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code == 415:
                    return
        raise ConfigurationError(f"the {self.name} edge did not start")

    def document(self) -> dict[str, Any]:
        return {"url": self.url, "member_id": self.member_id, "public_jwks": self.public_jwks}

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        if self.listener is not None:
            self.listener.close()


def edge_document(edges: list[SandboxEdge]) -> dict[str, Any]:
    return {edge.name: edge.document() for edge in edges}
