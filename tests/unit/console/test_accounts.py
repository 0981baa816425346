"""Console account names, roles and passwords are validated before anything is stored."""

from __future__ import annotations

import pytest

from gateway.console.accounts import add_user
from gateway.errors import InvalidInput
from gateway.store import Database


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
async def test_invalid_accounts_are_refused_before_the_database_is_touched(name: str, role: str, password: str) -> None:
    database = Database("sqlite+aiosqlite:////nonexistent-directory/never-opened.db")
    try:
        with pytest.raises(InvalidInput):
            await add_user(database, name, role=role, password=password)
    finally:
        await database.dispose()
