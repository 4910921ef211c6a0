"""Persistence: SQLAlchemy models, the database handle and Alembic migrations."""

from bridgehead.store.database import Database

__all__ = ["Database"]
