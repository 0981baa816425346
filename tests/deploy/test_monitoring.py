"""deploy/prometheus and deploy/grafana: the rules pass promtool's check and unit tests, each alert names a
runbook that exists, and every hub metric a rule or a panel reads is in a running hub's /metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.client import HubClient
from gateway.sandbox import Sandbox
from tests.integration.helpers import scenario_named, verification_request
from tests.markdown import github_anchors

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "hedui.json"
_HUB_METRIC = re.compile(r"\bhedui_[a-z0-9_]+\b")
# Series names each metric type exposes (the Prometheus text format, as prometheus_client writes it).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: .ci/run installs Debian's prometheus package, which has it"
    return found


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", "alerts.yaml"], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yaml"], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_and_has_a_runbook() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yaml").read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")}
    runbooks = github_anchors((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"))
    for rule in alert_rules():
        assert rule["alert"] in tested, f"{rule['alert']} is never shown to fire in alerts.test.yaml"
        runbook = str(rule["annotations"]["runbook"])  # type: ignore[index]
        path, _, anchor = runbook.partition("#")
        assert path == "docs/operations.md"
        assert anchor in runbooks, f"{rule['alert']}: docs/operations.md has no heading #{anchor}"


def test_the_dashboard_is_grafana_json_with_prometheus_targets() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "hedui-hub"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(panel["targets"] for panel in dashboard["panels"])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def scraped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The /metrics text of a sandbox hub after it has done some work: one verification, one refusal."""
    box = Sandbox(data_dir=tmp_path_factory.mktemp("monitoring"), port=0, households=40)
    await box.start()
    try:
        async with HubClient.from_sandbox(box.sandbox_json) as client:
            await client.verify(verification_request(scenario_named(box, "clearly_eligible")))
        async with httpx.AsyncClient(base_url=box.base_url) as http:
            assert (await http.get("/readyz")).status_code == 200
            response = await http.get("/metrics")
        assert response.status_code == 200
        yield response.text
    finally:
        await box.stop()


def exposed_series(text: str) -> set[str]:
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


@pytest.mark.asyncio(loop_scope="module")
async def test_every_metric_the_rules_and_panels_read_is_exposed(scraped: str) -> None:
    used = {name for rule in alert_rules() for name in _HUB_METRIC.findall(str(rule["expr"]))}
    used |= {name for expr in dashboard_expressions() for name in _HUB_METRIC.findall(expr)}
    assert len(used) >= 10
    assert used - exposed_series(scraped) == set()


@pytest.mark.asyncio(loop_scope="module")
async def test_scraped_state_metrics_carry_values(scraped: str) -> None:
    samples = {
        sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert samples["hedui_ready{}"] == 1
    assert samples["hedui_audit_tree_size{}"] >= 2  # requested + completed at least
    assert samples['hedui_key_expiry_timestamp_seconds{"key": "signing"}'] > 0
    assert any(
        name.startswith('hedui_http_requests_total{"method": "POST", "route": "/v1/verifications"') for name in samples
    )
