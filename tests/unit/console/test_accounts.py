"""Console account names, roles and passwords are validated (add_user and the CLI check first)."""

from __future__ import annotations

import pytest

from gateway.console.accounts import validate_account
from gateway.errors import InvalidInput


@pytest.mark.parametrize(
    ("name", "role", "password"),
    [
        ("Li", "auditor", "long enough password"),
        ("li", "admin", "long enough password"),
        ("li", "auditor", "short"),
        ("1li", "auditor", "long enough password"),
        ("li\n", "auditor", "long enough password"),
        ("ｌｉ", "auditor", "long enough password"),  # fullwidth letters are not ASCII
    ],
)
def test_invalid_accounts_are_refused(name: str, role: str, password: str) -> None:
    with pytest.raises(InvalidInput):
        validate_account(name, role, password)
