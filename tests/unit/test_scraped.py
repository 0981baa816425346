"""Key expiry dates for the metric of the same name: from each key's ``iat``, else its file's last change."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gateway.audit import LOG_KEY_FILE
from gateway.envelope import HubKeys
from gateway.envelope.keys import JWKS_FILE
from gateway.keydir import init_hub_key_dir
from gateway.metrics import HubMetrics
from gateway.scraped import key_expiries

DAY_S = 86400.0


def test_new_keys_are_dated_and_expire_after_the_maximum_age(tmp_path: Path) -> None:
    keys = init_hub_key_dir(tmp_path)
    stored = json.loads((tmp_path / JWKS_FILE).read_text())["keys"]
    created = {key["iat"] for key in stored} | {json.loads((tmp_path / LOG_KEY_FILE).read_text())["iat"]}
    assert len(created) <= 2  # written within the same second or two
    expiries = key_expiries(
        tmp_path, signing_kid=keys.signing_key.kid, encryption_kid=keys.encryption_key.kid, max_age_days=30
    )
    assert set(expiries) == {"signing", "encryption", "log"}
    assert all(at - 30 * DAY_S in created for at in expiries.values())


def test_undated_keys_count_from_their_file(tmp_path: Path) -> None:
    init_hub_key_dir(tmp_path)
    for name in (JWKS_FILE, LOG_KEY_FILE):
        path = tmp_path / name
        document = json.loads(path.read_text())
        for key in document.get("keys", [document]):
            key.pop("iat")
        path.write_text(json.dumps(document))
        os.utime(path, (1_000_000_000, 1_000_000_000))
    keys = HubKeys.load(tmp_path)
    expiries = key_expiries(
        tmp_path, signing_kid=keys.signing_key.kid, encryption_kid=keys.encryption_key.kid, max_age_days=1
    )
    assert expiries == dict.fromkeys(("signing", "encryption", "log"), 1_000_000_000 + DAY_S)


def test_readiness_transitions_count_changes_only() -> None:
    metrics = HubMetrics()
    for ready in (True, True, False, False, True, True):
        metrics.record_readiness(ready)
    assert metrics.registry.get_sample_value("hedui_readiness_transitions_total") == 2
    assert metrics.registry.get_sample_value("hedui_ready") == 1
