"""Persistence: SQLAlchemy 2 async models, the engine/session factory and Alembic migrations."""

from gateway.store.database import Database, migrate
from gateway.store.models import Base

__all__ = ["Base", "Database", "migrate"]
