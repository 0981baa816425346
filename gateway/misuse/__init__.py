"""Misuse detection (防范隐秘监视, issue 15): rules as data over the audit log, alerts, watch list."""

from gateway.misuse.detector import Alert, Detector
from gateway.misuse.rules import MisuseRules, load_rules, parse_rules
from gateway.misuse.service import WEBHOOK_TYP, MisuseDetection, StoredAlert, alert_claims

__all__ = [
    "WEBHOOK_TYP",
    "Alert",
    "Detector",
    "MisuseDetection",
    "MisuseRules",
    "StoredAlert",
    "alert_claims",
    "load_rules",
    "parse_rules",
]
