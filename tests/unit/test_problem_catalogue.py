"""Every problem code of the exception tree is documented in docs/problems.md (clients branch on them)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import gateway
from gateway.errors import HeduiError

DOC = Path(__file__).resolve().parents[2] / "docs" / "problems.md"


def all_codes() -> set[str]:
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if ".migrations" not in module.name:  # Alembic scripts run only under Alembic
            importlib.import_module(module.name)  # error classes defined anywhere are found
    codes, pending = set(), [HeduiError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes


def test_every_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(code for code in all_codes() if f"`{code}`" not in text)
    assert not missing, f"add these problem codes to docs/problems.md: {missing}"
