"""Network separation (docs/federation.md): the tax edge node and its simulated agency live in a network
namespace of their own (``ip netns`` + a veth pair). The hub reaches the edge over the veth and has no route
to the agency, yet the verification passes, attested; a query signed by a local MIS, or replayed, is refused.

Needs root and ``ip netns`` (CI runs as root); elsewhere it is skipped, and test_edge_sandbox.py runs the
same checks over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.client import HubClient
from gateway.edge.attestation import verify_attestation
from gateway.edge.sandbox import EDGE_MEMBERS
from gateway.edge.source import EdgeAgency
from gateway.edge.trust import verify_federation
from gateway.edge.verify import check_report
from gateway.edge.wire import query_body
from gateway.envelope import HubKeys, load_jwks, private_signing_key, public_encryption_key, seal
from gateway.keydir import init_hub_key_dir
from gateway.sandbox import Sandbox
from tests.integration.helpers import scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")
REPO = Path(__file__).resolve().parents[3]
EDGE_PORT = 9443  # inside a namespace of its own, no other process can hold it
AGENCY_PORT = 8080
AGENCY_HEALTH = "ok"  # adapters/testkit/tax.py


@dataclass
class Namespace:
    name: str
    root_ip: str  # the hub's end of the veth
    edge_ip: str  # the namespace's end of the veth
    agency_ip: str  # on the namespace's loopback: nothing outside routes to it
    outside: str  # the hub's end of the veth pair

    def exec(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (the loopback variant covers the rest)")
    tag = uuid.uuid4().hex[:6]
    rng = random.Random()
    third, fourth = rng.randrange(256), rng.randrange(0, 252, 4)
    ns = Namespace(
        name=f"hedui-{tag}",
        root_ip=f"10.213.{third}.{fourth + 1}",
        edge_ip=f"10.213.{third}.{fourth + 2}",
        agency_ip=f"10.214.{third}.{fourth + 1}",
        outside=f"hv{tag}a",
    )
    outside, inside = ns.outside, f"hv{tag}b"
    try:
        _ip("netns", "add", ns.name)
    except subprocess.CalledProcessError:
        pytest.skip("`ip netns add` is not permitted here (the loopback variant covers the rest)")
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns.name)
        _ip("addr", "add", f"{ns.root_ip}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.edge_ip}/30", "dev", inside)
        _ip("-n", ns.name, "link", "set", inside, "up")
        _ip("-n", ns.name, "link", "set", "lo", "up")
        _ip("-n", ns.name, "addr", "add", f"{ns.agency_ip}/32", "dev", "lo")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        subprocess.run(["ip", "link", "del", outside], capture_output=True)


@dataclass
class Separated:
    box: Sandbox
    ns: Namespace
    member_id: str
    edge_jwks: dict[str, Any]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def separated(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Separated]:
    directory = tmp_path_factory.mktemp("netns-edge")
    member_id = EDGE_MEMBERS["tax"]
    edge_jwks = init_hub_key_dir(directory / "keys").public_jwks()
    box = Sandbox(
        data_dir=directory / "sandbox",
        host=namespace.root_ip,
        port=0,
        households=40,
        # The edge starts once the hub is up (it fetches the hub's metadata): not required for readiness.
        hub_settings={"source_timeout_s": 5.0, "source_retries": 0, "optional_sources": ["tax"]},
        remote_edges={"tax": EdgeAgency(edge=f"http://{namespace.edge_ip}:{EDGE_PORT}", member=member_id)},
    )
    await box.start()
    processes: list[subprocess.Popen[bytes]] = []
    log = (directory / "processes.log").open("ab")
    try:
        await box.hub.members.add(member_id, role="agency", region=None, public_jwks=edge_jwks, name="tax-edge")
        agency = [sys.executable, "-m", "tests.integration.edge.agency_process", "tax", namespace.agency_ip]
        agency += [str(AGENCY_PORT), str(box.seed), str(box.households), box.as_of.isoformat()]
        edge = [sys.executable, "-m", "gateway.edge", "serve", "--adapter=tax", f"--member-id={member_id}"]
        edge += [f"--agency-url=http://{namespace.agency_ip}:{AGENCY_PORT}", f"--key-dir={directory / 'keys'}"]
        edge += [f"--hub={box.base_url}", f"--data-dir={directory / 'edge'}", f"--host={namespace.edge_ip}"]
        edge += [f"--port={EDGE_PORT}"]
        for command in (agency, edge):
            processes.append(_start(namespace.exec(*command), log))
        await _until_edge_answers(f"http://{namespace.edge_ip}:{EDGE_PORT}/v1/edge/queries", processes)
        yield Separated(box, namespace, member_id, edge_jwks)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.to_thread(process.wait, 10)
        log.close()
        await box.stop()


def _start(command: list[str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log)


async def _until_edge_answers(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    async with httpx.AsyncClient(timeout=2.0) as http:
        for _ in range(1200):
            if any(process.poll() is not None for process in processes):
                raise AssertionError("a namespace process stopped; see processes.log")
            try:
                if (await http.post(url)).status_code == 415:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the edge in the namespace did not start")


async def test_the_hub_has_no_route_to_the_agency_but_the_edge_has(separated: Separated) -> None:
    ns = separated.ns
    health = f"http://{ns.agency_ip}:{AGENCY_PORT}/health"
    # The hub's routes lead to the agency's address only through the default route, never the veth ...
    route = await asyncio.to_thread(
        subprocess.run, ["ip", "route", "get", ns.agency_ip], capture_output=True, text=True, check=True
    )
    assert ns.outside not in route.stdout
    # ... so whatever answers there (nothing, or a gateway of this machine's network) is not the agency.
    try:
        async with httpx.AsyncClient(timeout=2.0) as http:
            answer = await http.get(health)
        assert (answer.status_code, answer.text) != (200, AGENCY_HEALTH)
    except httpx.TransportError:
        pass
    # Inside the namespace the agency answers: the refusal above is the separation, not a dead agency.
    probe = f"import urllib.request; print(urllib.request.urlopen('{health}').read().decode())"
    inside = await asyncio.to_thread(
        subprocess.run, ns.exec(sys.executable, "-c", probe), capture_output=True, text=True, check=True
    )
    assert inside.stdout.strip() == AGENCY_HEALTH


async def test_the_full_verification_passes_attested_across_the_namespace(separated: Separated) -> None:
    box = separated.box
    scenario = scenario_named(box, "clearly_eligible")
    async with HubClient.from_sandbox(box.sandbox_json) as client:
        report = await client.verify(verification_request(scenario))
    assert report["status"] == "complete"
    assert report["indicators"] == scenario["expected"]["indicators"]
    tax = next(source for source in report["sources"] if source["adapter"] == "tax")
    claims = verify_attestation(tax["attestation"], separated.edge_jwks)
    assert claims["iss"] == separated.member_id and claims["verification_id"] == report["verification_id"]
    async with httpx.AsyncClient() as http:
        federation = verify_federation((await http.get(f"{box.base_url}/v1/federation")).text, None)
    checks = {check.adapter: check for check in check_report(report, federation)}
    assert checks["tax"].attested_by == separated.member_id
    assert all(check.ok for check in checks.values())


def _tax_query(box: Sandbox) -> dict[str, Any]:
    from adapters.base import QueryMember, SourceQuery

    scenario = scenario_named(box, "clearly_eligible")
    members = tuple(
        QueryMember(index=i, id_number=m["id_number"], name="", relation="")
        for i, m in enumerate(scenario["household"])
    )
    query = SourceQuery(str(uuid.uuid4()), "dibao.application", scenario["region"], members, box.as_of)
    return query_body("tax", query)


async def _post(separated: Separated, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"http://{separated.ns.edge_ip}:{EDGE_PORT}/v1/edge/queries",
            content=token,
            headers={"Content-Type": "application/jose"},
        )


def _sealed(separated: Separated, *, issuer: str, signing_key: Any) -> str:
    return seal(
        _tax_query(separated.box),
        issuer=issuer,
        audience=separated.member_id,
        signing_key=signing_key,
        recipient_key=public_encryption_key(separated.edge_jwks),
    ).token


async def test_a_query_signed_by_a_local_mis_is_refused(separated: Separated) -> None:
    box = separated.box
    document = json.loads(box.sandbox_json.read_text(encoding="utf-8"))
    mis = document["members"]["mis"]
    key = private_signing_key(load_jwks(box.data_dir / mis["private_jwks"]))
    response = await _post(separated, _sealed(separated, issuer=mis["id"], signing_key=key))
    assert response.status_code == 401
    assert response.json()["code"] == "signature_invalid"


async def test_a_replayed_query_is_refused(separated: Separated) -> None:
    hub_keys: HubKeys = separated.box.hub.keys
    token = _sealed(separated, issuer=separated.box.hub.settings.hub_id, signing_key=hub_keys.signing_key)
    assert (await _post(separated, token)).status_code == 200
    again = await _post(separated, token)
    assert again.status_code == 409
    assert again.json()["code"] == "replayed"
