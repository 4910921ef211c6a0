"""What differs between SQLite, PostgreSQL and MySQL/MariaDB.

Each backend knows how to make a session read-only (the second guard after the
statement check), how to bound a statement's time (the third), how to read its
own catalog statistics, and how its driver reports errors.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import bindparam, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

# Counting rows to estimate a table's size stops here: an estimate, not a full scan.
COUNT_CAP = 100_000
_MESSAGE_CHARS = 400


def _original(exc: BaseException) -> BaseException:
    """The driver's exception behind SQLAlchemy's wrapper."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


@dataclass(frozen=True)
class TableInfo:
    """A table or view as list_tables shows it."""

    schema: str
    name: str
    kind: str
    comment: str | None
    row_estimate: int | None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "name": self.name,
            "kind": self.kind,
            "comment": self.comment,
            "row_estimate": self.row_estimate,
        }


@dataclass(frozen=True)
class RowEstimate:
    """Roughly how many rows a table has, and where the number comes from."""

    rows: int | None
    source: str


class Backend:
    """The per-database behaviour the connector relies on; one subclass per database."""

    label: ClassVar[str]
    # MySQL drivers read every remaining row when an unfinished result is closed.
    drains_on_close: ClassVar[bool] = False

    def connect_args(
        self, *, read_only: bool, connect_timeout: float, statement_timeout: float
    ) -> dict[str, Any]:
        """Driver arguments for every new connection of the read (or write) pool."""
        return {}

    def missing_database(self, url: URL) -> str | None:
        """Why the database cannot be there at all (checked before connecting), or None."""
        return None

    async def prepare_connection(self, conn: AsyncConnection, *, read_only: bool) -> None:
        """Once per new driver connection: session settings that hold for its whole life."""

    async def begin(self, conn: AsyncConnection, *, read_only: bool, time_limit: float) -> None:
        """At the start of every use: the transaction's access mode and the statement time limit."""

    async def finish(self, conn: AsyncConnection) -> None:
        """At the end of every use, before the connection goes back to the pool."""

    # The driver's top-level module: its exceptions are database errors even when SQLAlchemy
    # lets one through unwrapped (asyncpg's, raised while a streamed result fetches).
    driver_module: ClassVar[str]

    def is_database_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` reports a problem in the database, as opposed to a bug here."""
        return isinstance(exc, DBAPIError) or type(exc).__module__.split(".")[0] == self.driver_module

    def is_timeout(self, exc: BaseException) -> bool:
        """Whether the database cancelled the statement for running past its time limit."""
        return False

    def message(self, exc: BaseException) -> str:
        """The database's own words about an error, without driver noise, kept short."""
        orig = _original(exc)
        args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
        raw = str(args[0]) if len(args) == 1 else str(orig)
        raw = re.sub(r"^<class '[^']+'>:\s*", "", raw)
        first = raw.strip().splitlines()[0] if raw.strip() else type(orig).__name__
        return first if len(first) <= _MESSAGE_CHARS else first[:_MESSAGE_CHARS] + "\u2026"

    async def default_schema(self, conn: AsyncConnection) -> str | None:
        raise NotImplementedError

    async def list_tables(self, conn: AsyncConnection, schemas: list[str]) -> list[TableInfo]:
        raise NotImplementedError

    async def row_estimate(self, conn: AsyncConnection, table: TableInfo) -> RowEstimate:
        """Statistics when the database keeps them, else a capped count."""
        if table.row_estimate is not None:
            return RowEstimate(table.row_estimate, self.statistics_source)
        return await self.count_rows(conn, table)

    statistics_source: ClassVar[str] = ""

    async def count_rows(self, conn: AsyncConnection, table: TableInfo) -> RowEstimate:
        prep = conn.dialect.identifier_preparer
        target = f"{prep.quote_schema(table.schema)}.{prep.quote(table.name)}"
        count = await conn.scalar(
            text(f"SELECT count(*) FROM (SELECT 1 FROM {target} LIMIT {COUNT_CAP + 1}) AS capped")
        )
        rows = int(count or 0)
        if rows > COUNT_CAP:
            return RowEstimate(COUNT_CAP, f"count, stopped at {COUNT_CAP}: at least this many")
        return RowEstimate(rows, "count")

    def reflection_schema(self, schema: str) -> str | None:
        """The schema argument SQLAlchemy's inspector wants for tables of ``schema``."""
        return schema


class SQLiteBackend(Backend):
    """SQLite through aiosqlite: ``PRAGMA query_only`` and a progress handler as the clock."""

    label = "SQLite"
    driver_module = "sqlite3"
    statistics_source = "sqlite_stat1"

    def connect_args(
        self, *, read_only: bool, connect_timeout: float, statement_timeout: float
    ) -> dict[str, Any]:
        # How long to wait for another writer's lock before "database is locked".
        return {"timeout": statement_timeout}

    def missing_database(self, url: URL) -> str | None:
        database = url.database or ""
        if not database or database == ":memory:" or url.query.get("uri") or database.startswith("file:"):
            return None
        if not Path(database).expanduser().is_file():
            return f"the SQLite file {database} does not exist"
        return None

    async def begin(self, conn: AsyncConnection, *, read_only: bool, time_limit: float) -> None:
        await conn.exec_driver_sql(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
        deadline = time.monotonic() + time_limit

        def past_deadline() -> int:
            # Runs on aiosqlite's thread every few thousand VM steps; non-zero aborts the statement.
            return 1 if time.monotonic() > deadline else 0

        driver: Any = (await conn.get_raw_connection()).driver_connection
        await driver.set_progress_handler(past_deadline, 2_000)

    async def finish(self, conn: AsyncConnection) -> None:
        if conn.closed or conn.invalidated:
            return
        driver: Any = (await conn.get_raw_connection()).driver_connection
        await driver.set_progress_handler(None, 0)

    def is_timeout(self, exc: BaseException) -> bool:
        return "interrupted" in str(_original(exc)).lower()

    async def default_schema(self, conn: AsyncConnection) -> str | None:
        return "main"

    def reflection_schema(self, schema: str) -> str | None:
        return None if schema == "main" else schema

    async def list_tables(self, conn: AsyncConnection, schemas: list[str]) -> list[TableInfo]:
        if "main" not in schemas:
            return []
        rows = (
            await conn.execute(
                text(
                    "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            )
        ).all()
        stats = await self._statistics(conn)
        return [TableInfo("main", name, kind, None, stats.get(name)) for name, kind in rows]

    async def _statistics(self, conn: AsyncConnection) -> dict[str, int]:
        """Row counts ANALYZE left in sqlite_stat1 (its ``stat`` column starts with the count)."""
        has_stats = await conn.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))
        if not has_stats:
            return {}
        counts: dict[str, int] = {}
        for table, stat in (await conn.execute(text("SELECT tbl, stat FROM sqlite_stat1"))).all():
            head = str(stat or "").split(" ", 1)[0]
            if head.isdigit():
                counts[table] = max(counts.get(table, 0), int(head))
        return counts


class PostgresBackend(Backend):
    """PostgreSQL through asyncpg: read-only sessions and transactions, ``statement_timeout``."""

    label = "PostgreSQL"
    driver_module = "asyncpg"
    statistics_source = "pg_class.reltuples"

    def connect_args(
        self, *, read_only: bool, connect_timeout: float, statement_timeout: float
    ) -> dict[str, Any]:
        settings = {"application_name": "bridgehead", "standard_conforming_strings": "on"}
        if read_only:
            settings["default_transaction_read_only"] = "on"
        return {"timeout": connect_timeout, "server_settings": settings}

    async def begin(self, conn: AsyncConnection, *, read_only: bool, time_limit: float) -> None:
        if read_only:
            await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        await conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(time_limit * 1000))}")

    def is_timeout(self, exc: BaseException) -> bool:
        return getattr(_original(exc), "sqlstate", None) == "57014"  # query_canceled

    async def default_schema(self, conn: AsyncConnection) -> str | None:
        schema = await conn.scalar(text("SELECT current_schema()"))
        return None if schema is None else str(schema)

    async def list_tables(self, conn: AsyncConnection, schemas: list[str]) -> list[TableInfo]:
        query = text(
            """
            SELECT n.nspname, c.relname,
                   CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                  WHEN 'f' THEN 'foreign table' ELSE 'table' END,
                   obj_description(c.oid, 'pg_class'),
                   CASE WHEN c.relkind IN ('r', 'p', 'm') AND c.reltuples >= 0
                        THEN c.reltuples::bigint END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
              AND n.nspname IN :schemas AND has_table_privilege(c.oid, 'SELECT')
            ORDER BY n.nspname, c.relname
            """
        ).bindparams(bindparam("schemas", expanding=True))
        rows = (await conn.execute(query, {"schemas": schemas})).all()
        return [TableInfo(s, n, k, c, None if r is None else int(r)) for s, n, k, c, r in rows]


class MySQLBackend(Backend):
    """MySQL and MariaDB through aiomysql: read-only sessions, one statement per call, time limits."""

    label = "MySQL/MariaDB"
    driver_module = "pymysql"
    drains_on_close = True
    statistics_source = "information_schema.tables.table_rows"

    def connect_args(
        self, *, read_only: bool, connect_timeout: float, statement_timeout: float
    ) -> dict[str, Any]:
        return {"connect_timeout": connect_timeout}

    async def prepare_connection(self, conn: AsyncConnection, *, read_only: bool) -> None:
        await _disable_multi_statements((await conn.get_raw_connection()).driver_connection)
        if read_only:
            # Session-wide, unlike START TRANSACTION READ ONLY, this also refuses DDL, whose
            # implicit commit would otherwise end the read-only transaction.
            await conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
            # The statement check tokenises strings with backslash escapes; make the server agree.
            await conn.exec_driver_sql(
                "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"
            )

    async def begin(self, conn: AsyncConnection, *, read_only: bool, time_limit: float) -> None:
        if getattr(conn.dialect, "is_mariadb", False):
            await conn.exec_driver_sql(f"SET SESSION max_statement_time = {time_limit:.3f}")
        else:  # MySQL's limit covers SELECT only
            await conn.exec_driver_sql(f"SET SESSION max_execution_time = {max(1, round(time_limit * 1000))}")
        await conn.exec_driver_sql("START TRANSACTION READ ONLY" if read_only else "START TRANSACTION")

    def is_timeout(self, exc: BaseException) -> bool:
        args: tuple[Any, ...] = tuple(getattr(_original(exc), "args", ()))
        return bool(args) and args[0] in (1969, 3024)  # MariaDB, MySQL

    def message(self, exc: BaseException) -> str:
        args: tuple[Any, ...] = tuple(getattr(_original(exc), "args", ()))
        if len(args) == 2 and isinstance(args[0], int):
            return f"{args[1]} (error {args[0]})"
        return super().message(exc)

    async def default_schema(self, conn: AsyncConnection) -> str | None:
        schema = await conn.scalar(text("SELECT DATABASE()"))
        return None if schema is None else str(schema)

    async def list_tables(self, conn: AsyncConnection, schemas: list[str]) -> list[TableInfo]:
        query = text(
            """
            SELECT table_schema AS s, table_name AS n, table_type AS k,
                   table_comment AS c, table_rows AS r
            FROM information_schema.tables
            WHERE table_schema IN :schemas AND table_type <> 'SEQUENCE'
            ORDER BY table_schema, table_name
            """
        ).bindparams(bindparam("schemas", expanding=True))
        tables = []
        for schema, name, kind, comment, rows in (await conn.execute(query, {"schemas": schemas})).all():
            is_view = kind == "VIEW"
            tables.append(
                TableInfo(
                    schema,
                    name,
                    "view" if is_view else "table",
                    None if is_view or not comment else comment,
                    None if is_view or rows is None else int(rows),
                )
            )
        return tables


_COM_SET_OPTION = 0x1B  # pymysql.constants.COMMAND.COM_SET_OPTION
_MULTI_STATEMENTS_OFF = b"\x01\x00"  # MYSQL_OPTION_MULTI_STATEMENTS_OFF, two bytes little-endian


async def _disable_multi_statements(driver_connection: Any) -> None:
    """Turn off the multi-statement capability aiomysql always asks for (COM_SET_OPTION).

    With it off, the server itself refuses ``SELECT 1; DROP TABLE t`` even if the
    statement check were ever fooled. aiomysql has no public call for this
    protocol command, so this uses its internal one (aiomysql is pinned).
    """
    await driver_connection._execute_command(_COM_SET_OPTION, _MULTI_STATEMENTS_OFF)
    await driver_connection._read_packet()


def backend_for(url: URL) -> Backend:
    """The backend for a (validated) URL."""
    name = url.get_backend_name()
    if name == "sqlite":
        return SQLiteBackend()
    if name == "postgresql":
        return PostgresBackend()
    if name in ("mysql", "mariadb"):
        return MySQLBackend()
    raise ValueError(f"no SQL backend for {name!r}")
