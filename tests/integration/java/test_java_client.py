"""A local MIS written in Java (HeduiJavaClient.java: the JDK's default HttpClient and jose4j, as
docs/integration.md's Java section says) runs a full exchange against a real sandbox hub: a token by
private_key_jwt, a sealed verification request signed "EdDSA", and the sealed report opened and checked
(the hub's signature under the caller's algorithm name, the req binding)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox import Sandbox
from tests.integration.helpers import scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = Path(__file__).with_name("HeduiJavaClient.java")
MAVEN_REPOSITORY = Path.home() / ".m2" / "repository"
# (group path, artifact, version) of the jars docs/integration.md names; from the local Maven repository.
JARS = (
    ("org/bitbucket/b_c", "jose4j", "0.9.6"),
    ("org/slf4j", "slf4j-api", "1.7.36"),
    ("org/slf4j", "slf4j-nop", "1.7.36"),  # jose4j logs through SLF4J; no binding would print a warning
)


def class_path() -> list[Path]:
    jars = [
        MAVEN_REPOSITORY / group / artifact / version / f"{artifact}-{version}.jar" for group, artifact, version in JARS
    ]
    missing = [jar.name for jar in jars if not jar.is_file()]
    assert not missing, f"missing from {MAVEN_REPOSITORY}: {missing} (docs/integration.md, Java)"
    return jars


async def run(*command: str | Path) -> str:
    """Run a JDK tool without blocking the event loop that serves the sandbox hub."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, f"{Path(command[0]).name} failed:\n{stderr.decode()}\n{stdout.decode()}"
    return stdout.decode()


async def test_a_java_client_runs_a_full_exchange(sandbox: Sandbox, tmp_path: Path) -> None:
    javac, java = shutil.which("javac"), shutil.which("java")
    assert javac and java, "JDK 17 (javac, java) is required"
    jars = ":".join(str(jar) for jar in class_path())
    await run(javac, "-Xlint:all", "-Werror", "-d", tmp_path, "-cp", jars, SOURCE)

    scenario = scenario_named(sandbox, "clearly_eligible")
    body = verification_request(scenario)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")

    result: dict[str, Any] = json.loads(
        await run(java, "-cp", f"{jars}:{tmp_path}", "HeduiJavaClient", sandbox.sandbox_json, request)
    )

    assert result["token_type"] == "Bearer"
    assert (result["request_alg"], result["response_alg"]) == ("EdDSA", "EdDSA")
    assert result["http_version"] == "HTTP_1_1"  # the h2c upgrade offer was declined, the body kept
    report = result["body"]
    assert (report["case_id"], report["status"]) == (body["case_id"], "complete")
    assert len(report["household"]["members"]) == len(scenario["household"])
    assert report["decision"]["recommendation"] == "eligible"
    assert isinstance(report["audit"]["leaf_index"], int)  # the release is in the audit log
