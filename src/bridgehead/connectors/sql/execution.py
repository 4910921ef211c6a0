"""Guarded sessions on the target database, and reads and writes run inside them.

Reads and writes use separate connection pools: every connection of the read pool
is read-only for its whole life (a session setting), every use of it opens a
read-only transaction with a statement time limit, and the transaction is always
rolled back. Writes (named statements only) commit when the statement succeeds
and roll back otherwise.

Database errors become ToolErrors here, once, with the database's own message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bridgehead.connectors.base import ToolError
from bridgehead.connectors.sql.backends import Backend
from bridgehead.connectors.sql.results import QueryResult, json_row

logger = logging.getLogger(__name__)

# How much longer than the database's own limit we wait before abandoning the connection.
_GRACE_SECONDS = 2.0
_PREPARED = "bridgehead_sql_prepared"


def literal_sql(sql: str) -> TextClause:
    """SQL to run exactly as written: a colon is never taken for a ``:name`` parameter."""
    return text(sql.replace(":", "\\:"))


@dataclass(frozen=True)
class WriteResult:
    """What a write statement did."""

    rows_affected: int
    returned: QueryResult | None

    def structured(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"rows_affected": self.rows_affected}
        if self.returned is not None:
            payload["columns"] = self.returned.columns
            payload["rows"] = self.returned.rows
        return payload

    def text(self, max_rows: int) -> str:
        noun = "row" if self.rows_affected == 1 else "rows"
        summary = f"Done: {self.rows_affected} {noun} affected; the change is committed."
        if self.returned is None or not self.returned.columns:
            return summary
        return f"{summary}\n{self.returned.text(max_rows)}"


class Executor:
    """Connections to one database, with the guards of its backend applied to every use."""

    def __init__(
        self,
        url: URL,
        backend: Backend,
        *,
        label: str,
        statement_timeout: float,
        connect_timeout: float,
        max_cell_chars: int,
        writable: bool,
    ) -> None:
        self.url = url
        self.backend = backend
        self.label = label
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self.max_cell_chars = max_cell_chars
        self._reader = self._engine(read_only=True)
        self._writer = self._engine(read_only=False) if writable else None

    def _engine(self, *, read_only: bool) -> AsyncEngine:
        args = self.backend.connect_args(
            read_only=read_only,
            connect_timeout=self.connect_timeout,
            statement_timeout=self.statement_timeout,
        )
        return create_async_engine(
            self.url,
            connect_args=args,
            pool_pre_ping=True,
            pool_recycle=1800,
            pool_timeout=self.connect_timeout,
        )

    async def close(self) -> None:
        await self._reader.dispose()
        if self._writer is not None:
            await self._writer.dispose()

    # -- sessions ----------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A guarded connection; a read is rolled back, a write committed if the block succeeds."""
        engine = self._writer if write else self._reader
        if engine is None:
            raise ToolError(f"The {self.label} connector does not allow writes.")
        conn = await self._connect(engine)
        try:
            async with asyncio.timeout(self.statement_timeout + _GRACE_SECONDS):
                await self._begin(conn, write=write)
                try:
                    yield conn
                    if write:
                        await conn.commit()
                finally:
                    await self.backend.finish(conn)
        except TimeoutError:
            # The database did not stop the statement itself; this connection's state is unknown.
            await conn.invalidate()
            raise ToolError(self._timeout_message(write)) from None
        except Exception as exc:
            if not self.backend.is_database_error(exc):
                raise
            if self.backend.is_timeout(exc):
                raise ToolError(self._timeout_message(write)) from None
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise ToolError(
                    f"Lost the connection to the {self.label} database: {self.backend.message(exc)}"
                ) from None
            verb = "statement" if write else "query"
            raise ToolError(
                f"The database rejected the {verb}: {self.backend.message(exc)}"
                + ("" if not write else " Nothing was changed.")
            ) from None
        finally:
            try:
                await conn.close()  # rolls back whatever is still open
            except Exception:  # a broken connection must not hide the error being reported
                logger.debug("closing a %s connection failed", self.label, exc_info=True)

    async def _connect(self, engine: AsyncEngine) -> AsyncConnection:
        missing = self.backend.missing_database(self.url)
        if missing is not None:
            raise ToolError(f"The {self.label} database is unavailable: {missing}.")
        conn = engine.connect()
        try:
            await conn.start()
        except DBAPIError as exc:
            raise ToolError(
                f"The {self.label} database is unreachable: {self.backend.message(exc)}"
            ) from None
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ToolError(f"The {self.label} database is unreachable: {reason}") from None
        return conn

    async def _begin(self, conn: AsyncConnection, *, write: bool) -> None:
        raw = await conn.get_raw_connection()
        if not raw.info.get(_PREPARED):
            await self.backend.prepare_connection(conn, read_only=not write)
            raw.info[_PREPARED] = True
        await self.backend.begin(conn, read_only=not write, time_limit=self.statement_timeout)

    def _timeout_message(self, write: bool) -> str:
        limit = f"the {self.statement_timeout:g} s limit (statement_timeout)"
        if write:
            return f"The database stopped the statement after {limit}. Nothing was changed."
        return (
            f"The database stopped the query after {limit}. "
            "Make it cheaper: filter with WHERE, aggregate, or add a LIMIT."
        )

    # -- reads and writes --------------------------------------------------------------------

    async def fetch(
        self,
        conn: AsyncConnection,
        statement: TextClause,
        parameters: Mapping[str, Any] | None,
        max_rows: int,
    ) -> QueryResult:
        """Up to ``max_rows`` rows, streamed so a huge result is never loaded whole."""
        result = await conn.stream(statement, dict(parameters or {}))
        columns = list(result.keys())
        rows = await result.fetchmany(max_rows + 1)
        truncated = len(rows) > max_rows
        if truncated and self.backend.drains_on_close:
            # Closing would read every remaining row off the wire; drop the connection instead.
            await conn.invalidate()
        else:
            await result.close()
        return QueryResult(
            [str(c) for c in columns],
            [json_row(row, self.max_cell_chars) for row in rows[:max_rows]],
            truncated,
        )

    async def write(self, statement: TextClause, parameters: Mapping[str, Any], max_rows: int) -> WriteResult:
        """Run one write statement in its own transaction: committed on success, else rolled back."""
        async with self.session(write=True) as conn:
            result = await conn.execute(statement, dict(parameters))
            rows_affected = max(result.rowcount, 0)
            returned = None
            if result.returns_rows:
                rows = result.fetchmany(max_rows + 1)
                returned = QueryResult(
                    [str(c) for c in result.keys()],  # noqa: SIM118 - a Result is not a mapping
                    [json_row(row, self.max_cell_chars) for row in rows[:max_rows]],
                    len(rows) > max_rows,
                )
                result.close()
        return WriteResult(rows_affected, returned)

    async def check(self) -> str | None:
        """None when a read session opens and answers ``SELECT 1``, else what went wrong."""
        try:
            async with self.session() as conn:
                await conn.execute(text("SELECT 1"))
        except ToolError as exc:
            return str(exc)
        return None
