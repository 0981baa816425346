"""The console tests' database and audit log fixtures (SQLite and PostgreSQL)."""

from tests.integration.console.conftest import audit, database

__all__ = ["audit", "database"]
