"""contracts/openapi/hub.json is the hub's published API: it must be what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.app import create_app

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi" / "hub.json"


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads(CONTRACT.read_text(encoding="utf-8"))
    assert committed == create_app().openapi(), "regenerate with: hedui openapi --out contracts/openapi/hub.json"


def test_every_business_endpoint_is_published() -> None:
    paths = set(json.loads(CONTRACT.read_text(encoding="utf-8"))["paths"])
    assert {
        "/oauth2/token",
        "/v1/verifications",
        "/v1/verifications/{verification_id}",
        "/v1/consents",
        "/v1/consents/search",
        "/v1/registry/enrollments",
        "/v1/matches",
        "/v1/audit/checkpoint",
        "/v1/audit/subject-accesses",
        "/v1/federation",
    } <= paths
    assert not any("id_number" in path for path in paths), "identity numbers never go into URLs"
