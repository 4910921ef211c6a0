"""Fixtures for the documents connector: connectors over real stores and real folders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridgehead.connectors.base import ConnectorContext
from bridgehead.connectors.documents import DocumentsConfig, DocumentsConnector
from bridgehead.store import Database
from tests.conftest import make_settings, postgres_database

ConnectorFactory = Callable[..., DocumentsConnector]

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def documents_connector(
    database: Database, tmp_path: Path, folders: list[dict[str, Any]], **config: Any
) -> DocumentsConnector:
    """A documents connector named ``docs`` over ``folders``, on ``database``."""
    settings = make_settings(tmp_path / "settings")
    validated = DocumentsConfig.model_validate(
        {"type": "documents", "name": "docs", "folders": folders, **config}
    )
    return DocumentsConnector(validated, ConnectorContext(settings, database))


@pytest.fixture
def make_connector(database: Database, tmp_path: Path) -> ConnectorFactory:
    """Build connectors on the test's store: ``make_connector([{"path": ..., "name": ...}], max_results=3)``."""

    def make(folders: list[dict[str, Any]], **config: Any) -> DocumentsConnector:
        return documents_connector(database, tmp_path, folders, **config)

    return make


@pytest.fixture(scope="module", params=STORES)
def module_store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store shared by one test module: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture(scope="module")
async def module_database(module_store_url: str) -> AsyncIterator[Database]:
    db = Database(module_store_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def other_store_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty store of the same kind as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    else:
        with postgres_database() as url:
            yield url
