"""Every word a console template asks for exists in Chinese and English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.console.i18n import MESSAGES, language, translate

TEMPLATES = Path(__file__).resolve().parents[3] / "gateway" / "console" / "templates"
VIEWS = TEMPLATES.parent / "views.py"


def used_keys() -> set[str]:
    text = "".join(path.read_text(encoding="utf-8") for path in TEMPLATES.glob("*.html"))
    keys = set(re.findall(r"\bt\('([a-z_]+)'", text))
    keys |= set(re.findall(r'(?:title|translate\(lang,)\s*\(?"([a-z_]+)"', VIEWS.read_text(encoding="utf-8")))
    keys |= set(re.findall(r'_login_page\(request, "([a-z_]+)"', VIEWS.read_text(encoding="utf-8")))
    return keys


def test_every_used_key_is_translated() -> None:
    keys = used_keys()
    assert len(keys) > 40
    assert not keys - set(MESSAGES)


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_both_languages_are_present_and_chinese_is_chinese(key: str) -> None:
    zh, en = MESSAGES[key]
    assert zh and en
    assert re.search(r"[\u4e00-\u9fff]", zh) or key in {"brand"}, key


def test_language_defaults_to_chinese_and_accepts_only_known_codes() -> None:
    assert language(None) == "zh"
    assert language("en") == "en"
    assert language("en-US") == "zh"
    assert language("zh\nSet-Cookie") == "zh"
    assert translate("en", "acknowledged_by", who="li") == "Acknowledged by li"
