"""Agencies behind edge nodes on loopback (the variant for machines without network namespaces; the
namespace variant is test_netns.py): a sandbox whose tax and banking run behind their own edge processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from typer.testing import CliRunner

from adapters.base import Fact, QueryMember, SourceQuery
from gateway.cli import app
from gateway.client import HubClient
from gateway.edge.attestation import digest_hex, facts_digest, verify_attestation
from gateway.edge.source import AttestedFactsStore
from gateway.edge.trust import verify_federation
from gateway.edge.verify import check_report
from gateway.edge.wire import query_body
from gateway.envelope import load_jwks, private_signing_key, public_encryption_key, seal
from gateway.sandbox import Sandbox
from gateway.store import Database
from tests.integration.helpers import scenario_named, verification_request
from tests.support import running_sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")
runner = CliRunner()
EDGES = ("tax", "banking")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def edged(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    async with running_sandbox(
        tmp_path_factory.mktemp("edged"),
        households=40,
        hub_settings={"source_timeout_s": 5.0, "source_retries": 0},
        edges=EDGES,
    ) as box:
        yield box


def _document(box: Sandbox) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(box.sandbox_json.read_text(encoding="utf-8"))
    return loaded


async def _federation(box: Sandbox) -> tuple[str, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        token = (await http.get(f"{box.base_url}/v1/federation")).text
    return token, verify_federation(token, box.hub.keys.public_jwks())


async def test_sandbox_json_lists_the_edges_and_keeps_its_shape(edged: Sandbox) -> None:
    document = _document(edged)
    assert set(document["edges"]) == set(EDGES)
    assert set(document["agencies"]) == {"hukou", "civil_affairs", "tax", "housing", "banking"}
    _, federation = await _federation(edged)
    agencies = {m["id"]: m for m in federation["members"] if m["role"] == "agency"}
    for edge in document["edges"].values():
        assert edge["url"].startswith("http://127.0.0.1:")
        assert agencies[edge["member_id"]]["jwks"]["keys"][0]["kid"] == edge["public_jwks"]["keys"][0]["kid"]
        assert all("d" not in key for key in edge["public_jwks"]["keys"])


async def test_edge_sources_are_attested_and_in_process_ones_are_not(edged: Sandbox, tmp_path: Path) -> None:
    scenario = scenario_named(edged, "clearly_eligible")
    async with HubClient.from_sandbox(edged.sandbox_json) as client:
        report = await client.verify(verification_request(scenario))
    assert report["status"] == "complete"
    assert report["indicators"] == scenario["expected"]["indicators"]  # the same facts as in-process
    by_adapter = {source["adapter"]: source for source in report["sources"]}
    assert {name for name, s in by_adapter.items() if s["attestation"] is not None} == set(EDGES)

    token, federation = await _federation(edged)
    checks = {check.adapter: check for check in check_report(report, federation)}
    document = _document(edged)
    for name in EDGES:
        assert checks[name].attested_by == document["edges"][name]["member_id"]
    assert all(check.ok for check in checks.values())
    assert checks["hukou"].attested_by is None

    # The hub kept the facts (encrypted): an auditor recomputes each digest from them.
    stored = await AttestedFactsStore(edged.hub.database, lambda: edged.hub.keys.storage_key).get(
        report["verification_id"]
    )
    assert set(stored) == set(EDGES)
    digests = {}
    for name in EDGES:
        claims = verify_attestation(by_adapter[name]["attestation"], document["edges"][name]["public_jwks"])
        assert facts_digest(stored[name]) == claims["facts_digest"]
        digests[name] = digest_hex(claims["facts_digest"])

    # The hub's source.queried entries carry the attested digest, the value of the edge's own entry: an
    # auditor matches the two logs on (verification_id, facts_sha256) without opening any facts.
    queried = {
        e.entry["source"]: e.entry
        for e in await edged.hub.audit.search(types=["source.queried"], limit=1000)
        if e.entry["verification_id"] == report["verification_id"]
    }
    assert {name: entry.get("facts_sha256") for name, entry in queried.items()} == {
        name: digests.get(name) for name in queried
    }
    edge_entries = await _edge_entries(edged, "tax")
    assert any(
        e.get("verification_id") == report["verification_id"] and e.get("facts_sha256") == digests["tax"]
        for e in edge_entries
    )

    # `hedui report verify FILE` says the same, and fails on a tampered attestation.
    (tmp_path / "federation.jwt").write_text(token)
    (tmp_path / "report.json").write_text(json.dumps(report, ensure_ascii=False))
    result = runner.invoke(
        app, ["report", "verify", str(tmp_path / "report.json"), "--federation", str(tmp_path / "federation.jwt")]
    )
    assert result.exit_code == 0, result.output
    assert "2 of 5 sources agency-attested" in result.output
    by_adapter["tax"]["attestation"] = by_adapter["banking"]["attestation"]  # another source's statement
    (tmp_path / "report.json").write_text(json.dumps(report, ensure_ascii=False))
    result = runner.invoke(
        app, ["report", "verify", str(tmp_path / "report.json"), "--federation", str(tmp_path / "federation.jwt")]
    )
    assert result.exit_code == 1
    assert "FAIL" in result.output and "tax" in result.output


def _query(box: Sandbox, *, purpose: str = "dibao.application") -> dict[str, Any]:
    scenario = scenario_named(box, "clearly_eligible")
    query = SourceQuery(
        verification_id=str(uuid.uuid4()),
        purpose=purpose,
        region=scenario["region"],
        members=tuple(
            QueryMember(index=i, id_number=m["id_number"], name="", relation="")
            for i, m in enumerate(scenario["household"])
        ),
        as_of=date.today(),
    )
    return query_body("tax", query)


async def _post(box: Sandbox, token: str) -> httpx.Response:
    edge = _document(box)["edges"]["tax"]
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{edge['url']}/v1/edge/queries", content=token, headers={"Content-Type": "application/jose"}
        )


def _sealed_by(box: Sandbox, body: dict[str, Any], *, issuer: str, signing_key: Any) -> str:
    edge = _document(box)["edges"]["tax"]
    return seal(
        body,
        issuer=issuer,
        audience=edge["member_id"],
        signing_key=signing_key,
        recipient_key=public_encryption_key(edge["public_jwks"]),
    ).token


async def test_a_query_signed_by_a_local_mis_is_refused(edged: Sandbox) -> None:
    document = _document(edged)
    mis = document["members"]["mis"]
    key = private_signing_key(load_jwks(edged.data_dir / mis["private_jwks"]))
    response = await _post(edged, _sealed_by(edged, _query(edged), issuer=mis["id"], signing_key=key))
    assert response.status_code == 401
    assert response.json()["code"] == "signature_invalid"
    # Claiming to be the hub with the MIS's key fails the same way.
    forged = _sealed_by(edged, _query(edged), issuer=edged.hub.settings.hub_id, signing_key=key)
    assert (await _post(edged, forged)).json()["code"] == "signature_invalid"


async def test_a_replayed_query_is_refused(edged: Sandbox) -> None:
    token = _sealed_by(edged, _query(edged), issuer=edged.hub.settings.hub_id, signing_key=edged.hub.keys.signing_key)
    first = await _post(edged, token)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/jose")
    again = await _post(edged, token)
    assert again.status_code == 409
    assert again.json()["code"] == "replayed"


async def test_a_purpose_the_edge_does_not_serve_is_refused(edged: Sandbox) -> None:
    body = _query(edged, purpose="no.such_purpose")
    token = _sealed_by(edged, body, issuer=edged.hub.settings.hub_id, signing_key=edged.hub.keys.signing_key)
    response = await _post(edged, token)
    assert response.status_code == 403
    assert response.json()["code"] == "purpose_not_allowed"


async def test_anything_but_a_sealed_post_is_refused(edged: Sandbox) -> None:
    edge = _document(edged)["edges"]["tax"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{edge['url']}/v1/edge/queries")).status_code == 405
        assert (await http.get(f"{edge['url']}/docs")).status_code == 404
        garbage = await http.post(
            f"{edge['url']}/v1/edge/queries", content=b"x.y.z", headers={"Content-Type": "application/jose"}
        )
    assert garbage.json()["code"] == "envelope_invalid"


async def test_the_edge_audit_log_verifies_and_holds_answers_and_refusals(edged: Sandbox) -> None:
    directory = edged.data_dir / "edges" / "tax"
    command = ["edge", "audit", "verify", "--data-dir", str(directory / "data"), "--key-dir", str(directory / "keys")]
    result = await asyncio.to_thread(runner.invoke, app, command)
    assert result.exit_code == 0, result.output

    entries = await _edge_entries(edged, "tax")
    outcomes = {(e["outcome"], e.get("reason")) for e in entries}
    assert ("answered", None) in outcomes
    assert {("refused", "signature_invalid"), ("refused", "replayed"), ("refused", "purpose_not_allowed")} <= outcomes
    assert all(e["type"] == "edge.queried" and e["source"] == "tax" for e in entries)
    identity_numbers = [m["id_number"] for m in scenario_named(edged, "clearly_eligible")["household"]]
    assert not any(number in json.dumps(entries) for number in identity_numbers)


async def _edge_entries(box: Sandbox, edge: str) -> list[dict[str, Any]]:
    """The entries of an edge node's own audit log, read from its database file."""
    database = Database(f"sqlite+aiosqlite:///{box.data_dir / 'edges' / edge / 'data' / 'edge.db'}")
    try:
        async with database.session() as session:
            rows = (await session.execute(text("SELECT entry FROM audit_entries"))).scalars().all()
    finally:
        await database.dispose()
    return [json.loads(row) for row in rows]


async def test_report_facts_recomputes_the_stored_digests_and_catches_a_change(edged: Sandbox) -> None:
    scenario = scenario_named(edged, "clearly_eligible")
    async with HubClient.from_sandbox(edged.sandbox_json) as client:
        report = await client.verify(verification_request(scenario))
    settings = edged.hub.settings
    command = ["report", "facts", report["verification_id"], "--database-url", settings.database_url]
    command += ["--key-dir", str(settings.key_dir)]
    result = await asyncio.to_thread(runner.invoke, app, command)
    assert result.exit_code == 0, result.output
    assert "2 attested sources checked" in result.output and "FAIL" not in result.output
    assert not any(m["id_number"] in result.output for m in scenario["household"])

    # Someone with database access changes what the hub stored: the agency's signature gives it away.
    store = AttestedFactsStore(edged.hub.database, lambda: edged.hub.keys.storage_key)
    (tax,) = [row for row in await store.rows(report["verification_id"]) if row.adapter == "tax"]
    altered = [
        Fact(**{**fact, "value": 0}) if fact["code"].startswith("income.") else Fact(**fact) for fact in tax.facts
    ]
    await store.put(report["verification_id"], "tax", tax.edge_member, tax.facts_digest, altered)
    result = await asyncio.to_thread(runner.invoke, app, command)
    assert result.exit_code == 1
    assert "tax" in result.output and "FAIL" in result.output
