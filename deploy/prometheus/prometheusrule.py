"""Write deploy/k8s/base/prometheusrule.yaml (a Prometheus Operator PrometheusRule) from alerts.yaml, so the
cluster gets the same rules promtool tested: `python deploy/prometheus/prometheusrule.py`.
tests/deploy/test_kubernetes.py fails when the two differ."""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "k8s" / "base" / "prometheusrule.yaml"


def render() -> str:
    groups = yaml.safe_load((HERE / "alerts.yaml").read_text(encoding="utf-8"))["groups"]
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "hedui-alerts"},
        "spec": {"groups": groups},
    }
    header = "# Generated from deploy/prometheus/alerts.yaml by deploy/prometheus/prometheusrule.py: edit that file.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
