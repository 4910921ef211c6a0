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

from bridgehead.audit.records import AuditEvent
from bridgehead.store import Database
from bridgehead.store.models import AuditEventRow

# Columns in the order of the INSERT below, and of every row handed to a writer: an AuditEvent's
# fields, whose JSON columns hold the JSON text the store keeps (AuditLog redacts and encodes them).
COLUMNS = AuditEvent._fields
JSON_COLUMNS = frozenset({"arguments", "result"})
# One audit event as a writer takes it: its values in COLUMNS order.
AuditRow = tuple[Any, ...]
# Rows between passive checkpoints: a WAL of about 10 MB at ~1 KB of frames a row (SQLite's own default
# is 1,000 pages, ~4 MB). Pages rewritten by consecutive commits (the last leaf of the table and of its
# index, page 1) are copied once per checkpoint, so rarer checkpoints copy less (~2% of a fast-path call).
CHECKPOINT_EVERY = 10_000
SQLITE_INSERT = (
    f"INSERT INTO {AuditEventRow.__tablename__} ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


def audit_row(values: Mapping[str, Any]) -> AuditRow:
    """The row for a mapping of column names to values (a missing column is None), its JSON columns
    encoded as SQLAlchemy's JSON type stores them (null for None); no redaction."""
    return tuple(
        orjson.dumps(values.get(column), default=str).decode()
        if column in JSON_COLUMNS
        else values.get(column)
        for column in COLUMNS
    )


class AuditWriter(Protocol):
    def write_now(self, rows: list[AuditRow]) -> bool:
        """Commit ``rows`` in one transaction on the calling thread when that cannot block; False
        (nothing written) when it would have to wait: then ``write`` them."""

    async def write(self, rows: list[AuditRow]) -> None:
        """Commit ``rows`` in one transaction; raise if they are not all durable."""

    def close(self) -> None: ...


class EngineWriter:
    """Batches through the store's async engine (PostgreSQL, or an in-memory SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def write_now(self, rows: list[AuditRow]) -> bool:
        return False  # the engine's connections are asynchronous

    async def write(self, rows: list[AuditRow]) -> None:
        # The JSON columns take objects here: SQLAlchemy's JSON type encodes them itself.
        decoded = [
            {
                column: orjson.loads(value) if column in JSON_COLUMNS else value
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
    def _commit(conn: sqlite3.Connection, rows: list[AuditRow]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(SQLITE_INSERT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _commit_in_thread(self, rows: list[AuditRow]) -> None:
        self._commit(self._thread_connection(), rows)

    def _checkpoint(self) -> None:
        self._thread_connection().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def write_now(self, rows: list[AuditRow]) -> bool:
        # The rows are the INSERT's parameters as they are (sqlite3 stores a bool as the integer
        # SQLAlchemy's Boolean reads back, and the JSON columns are JSON text already).
        if self._inline is None:
            self._inline = self._open(busy_timeout_ms=0, autocheckpoint=False)
        try:
            self._commit(self._inline, rows)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False  # another connection is writing (an index pass, a migration)
        self._committed(len(rows))
        return True

    async def write(self, rows: list[AuditRow]) -> None:
        if not self.write_now(rows):
            # Wait for the other writer off the loop.
            await asyncio.get_running_loop().run_in_executor(self._executor, self._commit_in_thread, rows)
            self._committed(len(rows))

    def _committed(self, count: int) -> None:
        self._since_checkpoint += count
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


def writer_for(database: Database) -> AuditWriter:
    """The fastest correct writer for this store."""
    path = database.url.database
    if database.is_sqlite and path and path != ":memory:" and not path.startswith("file:"):
        return SQLiteWriter(path)
    return EngineWriter(database)
