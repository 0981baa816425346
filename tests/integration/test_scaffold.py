"""`hedui adapters new`: each protocol's scaffold is a package that passes the conformance suite as generated."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.testkit.conformance import run_conformance
from gateway.errors import ConfigurationError
from gateway.scaffold import scaffold


@pytest.mark.parametrize("protocol", ["rest", "soap", "xml"])
async def test_a_scaffold_conforms_and_lints(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"sample_{protocol}"
    root = scaffold(name, protocol, tmp_path)
    assert {p.name for p in root.iterdir()} == {"pyproject.toml", "README.md", f"hedui_{name}", "tests"}
    lint = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length=120", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
    monkeypatch.syspath_prepend(str(root))
    package = importlib.import_module(f"hedui_{name}")
    agency = importlib.import_module(f"hedui_{name}.agency")
    adapter_class = getattr(package, f"Sample{protocol.title()}Adapter")
    checks = await run_conformance(name, adapter_class=adapter_class, agency_factory=agency.simulated_agency)
    assert {c.name: c.detail for c in checks if not c.passed} == {}


def test_bad_names_protocols_and_existing_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        scaffold("Bad-Name", "rest", tmp_path)
    with pytest.raises(ConfigurationError):
        scaffold("fine", "grpc", tmp_path)
    scaffold("fine", "rest", tmp_path)
    with pytest.raises(ConfigurationError):
        scaffold("fine", "rest", tmp_path)
