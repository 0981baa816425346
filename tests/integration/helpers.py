"""Helpers for tests that drive a sandbox (see the fixtures in conftest.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from gateway.sandbox import Sandbox


def sandbox_document(sandbox: Sandbox) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sandbox.sandbox_json.read_text(encoding="utf-8"))
    return loaded


def scenario_named(sandbox: Sandbox, name: str) -> dict[str, Any]:
    return next(s for s in sandbox_document(sandbox)["scenarios"] if s["name"] == name)


def verification_request(scenario: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "case_id": f"{scenario['region']}-test-{uuid.uuid4().hex[:8]}",
        "purpose": scenario["purpose"],
        "region": scenario["region"],
        "operator": "staff-0001",
        "household": scenario["household"],
    }
    body.update(changes)
    return body
