from __future__ import annotations

import pytest

from gateway.auth import PurposeCatalog, granted_scopes
from gateway.contracts import CONTRACTS_DIR
from gateway.errors import CategoryNotAllowed, InvalidScope, PurposeNotAllowed, RegionNotAllowed

CATALOG = PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml")
ALL = ["hukou", "civil_affairs", "tax", "housing", "banking"]


def test_own_region_is_allowed() -> None:
    purpose = CATALOG.authorize(
        role="local_mis", member_region="110101", purpose="dibao.application", region="110101", categories=ALL
    )
    assert purpose.legal_basis


@pytest.mark.parametrize(
    ("role", "member_region", "purpose", "region", "categories", "error"),
    [
        ("local_mis", "110101", "no.such.purpose", "110101", ALL, PurposeNotAllowed),
        ("auditor", None, "dibao.application", "110101", ALL, PurposeNotAllowed),
        ("local_mis", "110101", "dibao.application", "510502", ALL, RegionNotAllowed),
        ("local_mis", None, "dibao.application", "510502", ALL, RegionNotAllowed),
        ("local_mis", "110101", "temporary_assistance.application", "110101", ALL, CategoryNotAllowed),
    ],
)
def test_denials(
    role: str, member_region: str | None, purpose: str, region: str, categories: list[str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        CATALOG.authorize(role=role, member_region=member_region, purpose=purpose, region=region, categories=categories)


def test_cross_region_purpose() -> None:
    CATALOG.authorize(
        role="local_mis",
        member_region="110101",
        purpose="dibao.residence_application",
        region="510502",
        categories=ALL,
    )


def test_scopes_by_role() -> None:
    assert granted_scopes("local_mis", None) == {"verify", "consent:write", "registry:write"}
    assert granted_scopes("local_mis", "verify") == {"verify"}
    with pytest.raises(InvalidScope):
        granted_scopes("auditor", "verify")
    assert granted_scopes("nobody", None) == frozenset()
