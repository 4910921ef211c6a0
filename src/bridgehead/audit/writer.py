"""Where committed audit batches go: one dedicated SQLite connection, or the shared async engine.

The flusher in ``log.py`` decides *when* to commit; a writer only commits a batch.
On SQLite, a batch through the async engine costs several thread hand-offs
(pool checkout, begin, execute, commit each cross aiosqlite's thread) and that
cost is paid by every lone call waiting for its event to be durable. A writer
thread that owns its own ``sqlite3`` connection does the whole batch in one
hand-off. Other databases (PostgreSQL) keep the engine: asyncpg is already
native to the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import orjson
from sqlalchemy import insert

from bridgehead.store import Database
from bridgehead.store.models import AuditEventRow

# Columns in the order of the INSERT below; JSON columns are encoded by the writer.
COLUMNS = (
    "at",
    "user_id",
    "username",
    "client_id",
    "tool",
    "arguments",
    "result",
    "is_error",
    "decision",
    "reason",
    "duration_ms",
    "transport",
    "session_id",
    "request_id",
)
JSON_COLUMNS = frozenset({"arguments", "result"})
SQLITE_INSERT = (
    f"INSERT INTO {AuditEventRow.__tablename__} ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


class AuditWriter(Protocol):
    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Commit ``rows`` in one transaction; raise if they are not all durable."""

    def close(self) -> None: ...


class EngineWriter:
    """Batches through the store's async engine (PostgreSQL, or an in-memory SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, rows: list[dict[str, Any]]) -> None:
        async with self.database.connect() as conn:
            await conn.execute(insert(AuditEventRow), rows)

    def close(self) -> None:
        return None


class SQLiteThreadWriter:
    """Batches through a connection owned by one thread, opened on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridgehead-audit-writer")
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            # The same durability as the store's other connections: WAL with NORMAL sync
            # survives a killed process (the WAL write is done before commit returns).
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def _write_sync(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(SQLITE_INSERT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def write(self, rows: list[dict[str, Any]]) -> None:
        values = [tuple(_sqlite_value(column, row.get(column)) for column in COLUMNS) for row in rows]
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write_sync, values)

    def _close_sync(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        self._executor.submit(self._close_sync).result()
        self._executor.shutdown(wait=True)


def _sqlite_value(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS:
        # As SQLAlchemy's JSON type stores it (JSON text, with null for None), so reads are unchanged.
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, bool):
        return int(value)
    return value


def writer_for(database: Database) -> AuditWriter:
    """The fastest correct writer for this store."""
    path = database.url.database
    if database.is_sqlite and path and path != ":memory:" and not path.startswith("file:"):
        return SQLiteThreadWriter(path)
    return EngineWriter(database)
