"""The store on both backends: migrations, readiness and transactions."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from bridgehead.store import Database
from bridgehead.store.models import IndexRunRow


async def test_migrations_create_the_schema_and_are_idempotent(database: Database) -> None:
    await database.migrate()  # a second run is a no-op
    async with database.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        audit_indexes = await conn.run_sync(
            lambda sync: {index["name"] for index in inspect(sync).get_indexes("audit_events")}
        )
    assert {"documents", "index_runs", "alembic_version"} <= tables
    assert version == "0006"
    assert audit_indexes == {"ix_audit_events_at"}  # every call appends a row: no index it need not pay for
    if database.is_sqlite:
        assert "documents_fts" in tables


async def test_ping_and_sqlite_pragmas(database: Database) -> None:
    assert await database.ping()
    if database.is_sqlite:
        async with database.connect() as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"


async def test_session_rolls_back_on_error(database: Database) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            session.add(
                IndexRunRow(
                    connector="x", started_at=now, finished_at=now, added=1, updated=0, removed=0,
                    unchanged=0, failed=0, errors=[],
                )
            )  # fmt: skip
            await session.flush()
            raise RuntimeError("boom")
    async with database.session() as session:
        assert (await session.execute(select(IndexRunRow))).first() is None


async def test_unreachable_database_is_not_ready() -> None:
    database = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert await database.ping() is False
    finally:
        await database.close()
