"""Where committed audit batches go: one dedicated SQLite connection, or the shared async engine.

The flusher in ``log.py`` decides *when* to commit; a writer only commits a batch.
On SQLite, a batch through the async engine costs several thread hand-offs
(pool checkout, begin, execute, commit each cross aiosqlite's thread) and that
cost is paid by every lone call waiting for its event to be durable; the
SQLite writer commits on the loop instead (see ``SQLiteWriter``). Other
databases (PostgreSQL) keep the engine: asyncpg is already native to the
event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import orjson
from sqlalchemy import insert

from bridgehead.audit.records import JSONText
from bridgehead.store import Database
from bridgehead.store.models import AuditEventRow

# Columns in the order of the INSERT below, and of every row handed to a writer; JSON columns hold
# JSONText (already encoded, as AuditLog hands them over) or plain values the writer encodes.
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
_JSON_AT = tuple(COLUMNS.index(c) for c in sorted(JSON_COLUMNS))
# One audit event as a writer takes it: its values in COLUMNS order.
AuditRow = tuple[Any, ...]
# Rows between passive checkpoints (about SQLite's own 1,000-page default for small events).
CHECKPOINT_EVERY = 2000
SQLITE_INSERT = (
    f"INSERT INTO {AuditEventRow.__tablename__} ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


def audit_row(values: Mapping[str, Any]) -> AuditRow:
    """The row for a mapping of column names to values (a missing column is None)."""
    return tuple(values.get(column) for column in COLUMNS)


class AuditWriter(Protocol):
    async def write(self, rows: list[AuditRow]) -> None:
        """Commit ``rows`` in one transaction; raise if they are not all durable."""

    def close(self) -> None: ...


class EngineWriter:
    """Batches through the store's async engine (PostgreSQL, or an in-memory SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, rows: list[AuditRow]) -> None:
        # The JSON columns take objects here: SQLAlchemy's JSON type encodes them itself.
        decoded = [
            {
                column: _decoded(value) if column in JSON_COLUMNS else value
                for column, value in zip(COLUMNS, row, strict=True)
            }
            for row in rows
        ]
        async with self.database.connect() as conn:
            await conn.execute(insert(AuditEventRow), decoded)

    def close(self) -> None:
        return None


class SQLiteWriter:
    """Commits a batch on the event loop's own thread, with a worker thread for the rare slow cases.

    A commit in WAL mode with NORMAL sync is one append to the WAL file, tens of microseconds:
    cheaper than handing the batch to a thread and back (two wake-ups, and a wait for the GIL
    while the loop is busy). What could block is kept off the loop: the loop's connection never
    waits for a lock (busy_timeout 0; a locked database sends that batch to the worker thread,
    which waits as the store's other connections do) and never checkpoints (the worker runs a
    passive checkpoint every CHECKPOINT_EVERY rows, which is where fsync happens).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridgehead-audit-writer")
        self._local = threading.local()
        self._inline: sqlite3.Connection | None = None
        self._since_checkpoint = 0
        self._checkpointing: Future[None] | None = None

    def _open(self, *, busy_timeout_ms: int, autocheckpoint: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        # The same durability as the store's other connections: WAL with NORMAL sync survives
        # a killed process (the WAL append is done before COMMIT returns).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if not autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _thread_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open(busy_timeout_ms=30_000, autocheckpoint=True)
        return conn

    @staticmethod
    def _commit(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(SQLITE_INSERT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _commit_in_thread(self, rows: list[tuple[Any, ...]]) -> None:
        self._commit(self._thread_connection(), rows)

    def _checkpoint(self) -> None:
        self._thread_connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def write(self, rows: list[AuditRow]) -> None:
        values = [_sqlite_row(row) for row in rows]
        if self._inline is None:
            self._inline = self._open(busy_timeout_ms=0, autocheckpoint=False)
        try:
            self._commit(self._inline, values)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            # Another connection is writing (an index pass, a migration): wait for it off the loop.
            await asyncio.get_running_loop().run_in_executor(self._executor, self._commit_in_thread, values)
        self._since_checkpoint += len(values)
        if self._since_checkpoint >= CHECKPOINT_EVERY and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._since_checkpoint = 0
            self._checkpointing = self._executor.submit(self._checkpoint)

    def _close_thread(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        self._executor.submit(self._close_thread).result()
        self._executor.shutdown(wait=True)


def _sqlite_row(row: AuditRow) -> AuditRow:
    """The INSERT's parameters for one event: the row itself when its payloads are JSON text already
    (sqlite3 stores a bool as the integer SQLAlchemy's Boolean reads back)."""
    if all(type(row[at]) is JSONText for at in _JSON_AT):
        return row
    values = list(row)
    for at in _JSON_AT:
        values[at] = _sqlite_json(values[at])
    return tuple(values)


def _decoded(value: Any) -> Any:
    # orjson reads exact str only, not subclasses.
    return orjson.loads(str(value)) if isinstance(value, JSONText) else value


def _sqlite_json(value: Any) -> str:
    if isinstance(value, JSONText):
        return value
    # As SQLAlchemy's JSON type stores it (JSON text, with null for None), so reads are unchanged.
    return orjson.dumps(value, default=str).decode()


def writer_for(database: Database) -> AuditWriter:
    """The fastest correct writer for this store."""
    path = database.url.database
    if database.is_sqlite and path and path != ":memory:" and not path.startswith("file:"):
        return SQLiteWriter(path)
    return EngineWriter(database)
