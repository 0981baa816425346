"""The printable 核对报告 over real HTTP: the requester's PDF has Chinese text in an embedded CJK font and a
QR code whose seal verifies under the hub's JWKS against the report; ``hedui report print`` / ``verify``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import PIL.Image
import pytest
import zxingcpp
from typer.testing import CliRunner

from gateway.cli import app
from gateway.client import HubClient
from gateway.envelope import load_jwks
from gateway.errors import NotFound
from gateway.report import verify_seal
from gateway.sandbox import Sandbox
from tests.integration.helpers import scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def run(*command: str) -> str:
    completed = await asyncio.to_thread(subprocess.run, command, capture_output=True, check=True)
    return completed.stdout.decode("utf-8")


def decode_qr(workdir: Path) -> str:
    found = zxingcpp.read_barcodes(PIL.Image.open(next(workdir.glob("page*.png"))))
    assert len(found) == 1, "one QR code on the first page"
    return str(found[0].text)


async def qr_text(pdf: Path, workdir: Path) -> str:
    await run("pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(pdf), str(workdir / "page"))
    return await asyncio.to_thread(decode_qr, workdir)


async def hub_jwks(sandbox: Sandbox, path: Path) -> Path:
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{sandbox.base_url}/.well-known/jwks.json")).json()
    await asyncio.to_thread(path.write_text, json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def verified() -> dict[str, Any]:
    return {}


async def report_of(sandbox: Sandbox, verified: dict[str, Any]) -> dict[str, Any]:
    if "report" not in verified:
        async with HubClient.from_sandbox(sandbox.sandbox_json) as client:
            verified["report"] = await client.verify(verification_request(scenario_named(sandbox, "clearly_eligible")))
    report: dict[str, Any] = verified["report"]
    return report


async def test_the_requester_gets_a_sealed_pdf_in_chinese(
    sandbox: Sandbox, verified: dict[str, Any], tmp_path: Path
) -> None:
    report = await report_of(sandbox, verified)
    async with HubClient.from_sandbox(sandbox.sandbox_json) as client:
        pdf, seal = await client.report_pdf(report["verification_id"])
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = await run("pdftotext", "-layout", str(path), "-")
    for expected in (
        "社会救助家庭经济状况核对报告",
        report["household"]["members"][0]["name"],
        "家庭月人均收入",
        "人工确认",
        report["policy"]["id"],
        "建议认定",
    ):
        assert expected in text
    fonts = await run("pdffonts", str(path))
    cjk = [line for line in fonts.splitlines() if "NotoSansCJK" in line]
    assert cjk and all(" yes yes yes " in line for line in cjk)  # embedded, subset, with a Unicode map
    assert await qr_text(path, tmp_path) == seal
    jwks = load_jwks(json.loads((await hub_jwks(sandbox, tmp_path / "jwks.json")).read_text()))
    claims = verify_seal(seal, jwks, report=report)
    assert claims["verification_id"] == report["verification_id"]
    shots = os.environ.get("HEDUI_SCREENSHOTS")
    if shots:  # docs/console/report-1.png and -2.png: the pages as docs/console.md shows them
        await run("pdftoppm", "-r", "80", "-png", str(path), str(Path(shots) / "report"))


async def test_another_member_gets_no_pdf(sandbox: Sandbox, verified: dict[str, Any]) -> None:
    report = await report_of(sandbox, verified)
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="mis_510502") as other:
        with pytest.raises(NotFound):
            await other.report_pdf(report["verification_id"])


async def test_cli_prints_and_verifies(sandbox: Sandbox, verified: dict[str, Any], tmp_path: Path) -> None:
    report = await report_of(sandbox, verified)
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    jwks = await hub_jwks(sandbox, tmp_path / "jwks.json")
    runner = CliRunner()
    out = tmp_path / "printed.pdf"
    printed = runner.invoke(
        app, ["report", "print", str(report_file), "-o", str(out), "--key-dir", str(sandbox.data_dir / "keys")]
    )
    assert printed.exit_code == 0, printed.output
    seal = await qr_text(out, tmp_path)
    ok = runner.invoke(app, ["report", "verify", "--qr", seal, "--report", str(report_file), "--jwks", str(jwks)])
    assert ok.exit_code == 0, ok.output
    assert "matches the report" in ok.output
    positional = runner.invoke(app, ["report", "verify", str(report_file), "--qr", seal, "--jwks", str(jwks)])
    assert positional.exit_code == 0, positional.output
    changed = {**report, "case_id": "110101-forged"}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(changed), encoding="utf-8")
    refused = runner.invoke(app, ["report", "verify", "--qr", seal, "--report", str(forged), "--jwks", str(jwks)])
    assert refused.exit_code == 1
    assert "report_seal_invalid" in refused.output
