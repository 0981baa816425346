"""The tax agency's income-query contract (contracts/agencies/tax/): namespace, schemas, 12-month window."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

from lxml import etree

from adapters.xmlsafe import load_schema

NAMESPACE = "urn:hedui:agency:tax:income-query:1"
VERSION = "1"
# contracts/ is data beside the packages, not package data: found from the source tree.
CONTRACT_DIR = Path(__file__).resolve().parents[2] / "contracts" / "agencies" / "tax"


def qname(local: str) -> str:
    """Clark notation ``{namespace}local`` for an element of the contract."""
    return f"{{{NAMESPACE}}}{local}"


@cache
def request_schema() -> etree.XMLSchema:
    return load_schema(CONTRACT_DIR / "income-query-request.xsd")


@cache
def response_schema() -> etree.XMLSchema:
    return load_schema(CONTRACT_DIR / "income-query-response.xsd")


def reporting_months(as_of: date) -> tuple[str, ...]:
    """The 12 calendar months before the month of ``as_of``, oldest first, as ``YYYY-MM``.

    ``2026-07-01`` and ``2026-07-31`` both give ``2025-07`` .. ``2026-06``: the month of the reference date
    is never included, because its declarations are not complete yet.
    """
    first = as_of.year * 12 + (as_of.month - 1) - 12
    return tuple(f"{(first + k) // 12:04d}-{(first + k) % 12 + 1:02d}" for k in range(12))
