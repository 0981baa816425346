"""`hedui demo --edge tax,banking`: the printed report shows which sources the agencies signed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app


def test_the_demo_shows_the_attested_sources(tmp_path: Path) -> None:
    args = ["demo", "--edge", "tax,banking", "--households", "40", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    sources = [line for line in result.output.splitlines() if "agency-signed" in line or "hub-fetched" in line]
    assert len(sources) == 5
    assert sorted(line.split("│")[2].strip() for line in sources if "agency-signed" in line) == ["banking", "tax"]
