"""The hub refuses to start on bad configuration instead of serving with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway import context
from gateway.contracts import CONTRACTS_DIR
from gateway.errors import ConfigurationError
from gateway.keydir import init_hub_key_dir
from gateway.settings import Settings


def settings(tmp_path: Path) -> Settings:
    init_hub_key_dir(tmp_path / "keys")
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", key_dir=tmp_path / "keys")


async def test_an_invalid_policy_stops_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contracts = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, contracts)
    policy = contracts / "policies" / "110101" / "dibao.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("monthly_income_per_capita", "monthly_incme"))
    monkeypatch.setattr(context, "CONTRACTS_DIR", contracts)
    with pytest.raises(ConfigurationError) as caught:
        await context.open_hub(settings(tmp_path))
    assert "110101" in str(caught.value.extensions) + caught.value.detail


async def test_missing_keys_stop_the_hub(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="hedui keys init"):
        await context.open_hub(Settings(key_dir=tmp_path / "nowhere"))


async def test_the_shipped_contracts_start_a_hub(tmp_path: Path) -> None:
    hub = await context.open_hub(settings(tmp_path))
    try:
        assert len(hub.policies) == 12
        assert {key["use"] for key in hub.public_jwks()["keys"]} == {"sig", "enc"}
    finally:
        await hub.aclose()
