"""deploy/k8s: every overlay renders with `kubectl kustomize` and validates against the Kubernetes schemas
(kubernetes-validate, strict); the hub's pods are non-root, read-only, probed and bounded; the production
policies mounted from a ConfigMap pass the hub's own policy check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.meanstest.policy import load_policies

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.30.0"
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}  # CRDs: not in the bundled schemas, checked by hand below


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render deploy/k8s"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def by_kind(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    return found


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def test_every_resource_validates_against_the_kubernetes_schemas(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, resources = rendered
    kinds = {resource["kind"] for resource in resources}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Job"} <= kinds
    assert {"ConfigMap", "ServiceMonitor", "PrometheusRule"} <= kinds
    for resource in resources:
        if resource["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_an_invalid_resource_is_refused() -> None:
    """The validator can fail: a misspelt field under strict validation."""
    resource = by_kind(render("dev"), "Service", "hedui-hub")
    resource["spec"]["prots"] = resource["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_hub_pods_are_hardened_probed_and_sized(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, resources = rendered
    deployment = by_kind(resources, "Deployment", "hedui-hub")
    pod = deployment["spec"]["template"]["spec"]
    [hub] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert hub["securityContext"]["readOnlyRootFilesystem"] is True
    assert hub["securityContext"]["allowPrivilegeEscalation"] is False
    assert hub["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert hub["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert hub["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(hub["resources"]["requests"]) and "memory" in hub["resources"]["limits"]
    # One worker per pod; the grace period outlasts a verification (5 s source timeout x 2 attempts).
    assert hub["args"][hub["args"].index("--workers") + 1] == "1"
    assert pod["terminationGracePeriodSeconds"] >= 30
    mounts = {mount["mountPath"]: mount for mount in hub["volumeMounts"]}
    assert mounts["/run/secrets/hedui-keys"]["readOnly"] is True
    assert "/tmp" in mounts  # the only writable paths: /tmp and the data directory
    secrets = {volume["secret"]["secretName"] for volume in pod["volumes"] if "secret" in volume}
    assert secrets == {"hedui-hub-keys", "hedui-database"}
    # Secret files belong to root: the process reads them through its group (fsGroup), never "other".
    modes = [volume["secret"]["defaultMode"] for volume in pod["volumes"] if "secret" in volume]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert all(mode & 0o040 and not mode & 0o007 for mode in modes)
    settings = by_kind(resources, "ConfigMap", hub["envFrom"][0]["configMapRef"]["name"])
    assert settings["data"]["HEDUI_MIGRATE_ON_START"] == "false"  # the migration Job migrates, hubs do not
    assert not any("PASSWORD" in key or key == "HEDUI_DATABASE_URL" for key in settings["data"])
    job = by_kind(resources, "Job", "hedui-db-upgrade")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]


def test_batch_workers_run_the_same_image_hardened(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, resources = rendered
    hub = by_kind(resources, "Deployment", "hedui-hub")["spec"]["template"]["spec"]["containers"][0]
    [worker] = by_kind(resources, "Deployment", "hedui-worker")["spec"]["template"]["spec"]["containers"]
    assert worker["image"] == hub["image"] and worker["args"][0] == "worker"
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["envFrom"] == hub["envFrom"]


def test_network_policies_deny_by_default_and_guard_the_database(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, resources = rendered
    deny = by_kind(resources, "NetworkPolicy", "hedui-default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    database = by_kind(resources, "NetworkPolicy", "hedui-database")
    [rule] = database["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"hedui.io/database-client": "true"}}}]
    hub_labels = by_kind(resources, "Deployment", "hedui-hub")["spec"]["template"]["metadata"]["labels"]
    assert hub_labels["hedui.io/database-client"] == "true"


def test_the_service_monitor_scrapes_the_hub_service(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, resources = rendered
    monitor = by_kind(resources, "ServiceMonitor")
    service = by_kind(resources, "Service", "hedui-hub")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "hedui"  # the alerts' up{job="hedui"}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


def test_production_policies_pass_the_hubs_policy_check(tmp_path: Path) -> None:
    resources = render("prod")
    deployment = by_kind(resources, "Deployment", "hedui-hub")
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "policies"]
    config_map = by_kind(resources, "ConfigMap", volume["configMap"]["name"])
    for item in volume["configMap"]["items"]:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_map["data"][item["key"]], encoding="utf-8")
    assert len(load_policies(tmp_path)) == len(volume["configMap"]["items"]) > 0


def test_the_prometheus_rule_is_alerts_yaml(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """The cluster's rules are the ones promtool tests (regenerate: python deploy/prometheus/prometheusrule.py)."""
    _, resources = rendered
    rule = by_kind(resources, "PrometheusRule")
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    assert rule["spec"]["groups"] == alerts["groups"]
