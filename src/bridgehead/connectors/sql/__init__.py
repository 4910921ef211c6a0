"""The SQL connector: a company database (SQLite, PostgreSQL, MySQL/MariaDB) as MCP tools.

Built-in tools: ``list_tables``, ``describe_table`` and ``run_query`` (one
read-only SELECT). Each ``[[connectors.queries]]`` entry becomes a read-only tool
of its own, and each ``[[connectors.statements]]`` entry a write tool (hidden when
the connector is ``read_only``).

``run_query`` is read-only three times over: the statement check in
``readonly.py`` refuses anything but one SELECT before it is sent; the session and
transaction are read-only in the database itself (``backends.py``); and every
statement runs under a time limit with at most ``max_rows`` rows kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bridgehead.connectors.base import (
    CallContext,
    Connector,
    ConnectorConfig,
    ConnectorContext,
    Tool,
    ToolError,
    ToolHints,
    ToolOutput,
)
from bridgehead.connectors.sql.backends import Backend, TableInfo, backend_for
from bridgehead.connectors.sql.catalog import (
    Visibility,
    describe_table,
    parse_table_name,
    visible_tables,
)
from bridgehead.connectors.sql.config import NamedQuery, NamedStatement, SQLConfig
from bridgehead.connectors.sql.execution import Executor, literal_sql
from bridgehead.connectors.sql.parameters import bind_parameters, bound_values, input_schema
from bridgehead.connectors.sql.readonly import StatementRejected, check_read_only
from bridgehead.connectors.sql.results import format_table

__all__ = ["NamedQuery", "NamedStatement", "SQLConfig", "SQLConnector"]

logger = logging.getLogger(__name__)

MAX_SQL_CHARS = 100_000

QUERY_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "columns": {"type": "array", "items": {"type": "string"}, "description": "Column names, in order."},
        "rows": {
            "type": "array",
            "items": {"type": "array"},
            "description": "One array per row, values in column order. Decimals, dates, UUIDs and other "
            "types are JSON numbers or strings; binary values are base64.",
        },
        "row_count": {"type": "integer", "minimum": 0},
        "truncated": {"type": "boolean", "description": "True when the result had more rows than returned."},
    },
    "required": ["columns", "rows", "row_count", "truncated"],
    "additionalProperties": False,
}
WRITE_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rows_affected": {"type": "integer", "minimum": 0},
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "array"}},
    },
    "required": ["rows_affected"],
    "additionalProperties": False,
}
_TABLE_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "schema": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "comment": {"type": ["string", "null"]},
        "row_estimate": {"type": ["integer", "null"]},
    },
    "required": ["schema", "name", "kind", "comment", "row_estimate"],
}
LIST_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"tables": {"type": "array", "items": _TABLE_ITEM}},
    "required": ["tables"],
    "additionalProperties": False,
}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
DESCRIBE_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "schema": {"type": "string"},
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "comment": {"type": ["string", "null"]},
        "columns": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "nullable": {"type": "boolean"},
                    "default": {"type": ["string", "null"]},
                    "primary_key": {"type": "boolean"},
                    "comment": {"type": ["string", "null"]},
                },
                "required": ["name", "type", "nullable", "default", "primary_key"],
            },
        },
        "primary_key": _STRINGS,
        "foreign_keys": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "columns": _STRINGS,
                    "references": {
                        "type": "object",
                        "properties": {
                            "schema": {"type": ["string", "null"]},
                            "table": {"type": "string"},
                            "columns": _STRINGS,
                        },
                        "required": ["table", "columns"],
                    },
                },
                "required": ["columns", "references"],
            },
        },
        "indexes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": ["string", "null"]},
                    "columns": _STRINGS,
                    "unique": {"type": "boolean"},
                },
                "required": ["columns", "unique"],
            },
        },
        "row_estimate": {"type": ["integer", "null"]},
        "row_estimate_source": {"type": "string"},
    },
    "required": [
        "schema",
        "name",
        "kind",
        "columns",
        "primary_key",
        "foreign_keys",
        "indexes",
        "row_estimate",
        "row_estimate_source",
    ],
    "additionalProperties": False,
}
LIST_INPUT: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}
DESCRIBE_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "table": {
            "type": "string",
            "minLength": 1,
            "maxLength": 300,
            "description": "A table or view name as the table list shows it, optionally schema-qualified (schema.table).",
        }
    },
    "required": ["table"],
    "additionalProperties": False,
}

_READ = ToolHints(read_only=True, destructive=False, idempotent=True, open_world=False)


class SQLConnector(Connector):
    """Serves one database: its catalog, read-only queries, and the configured named tools."""

    type_name = "sql"
    config_model = SQLConfig
    # A database outage makes this connector's tools fail, not the whole server unready.
    gates_readiness = False

    def __init__(self, config: ConnectorConfig, context: ConnectorContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, SQLConfig)
        self.settings: SQLConfig = config
        self.url = config.database_url()
        self.backend: Backend = backend_for(self.url)
        self._executor: Executor | None = None
        self._default_schema: str | None = None
        self._default_schema_known = False

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        return bool(self.settings.statements) and not self.settings.read_only

    async def start(self) -> None:
        """Create the connection pools and try the database once; an outage only logs a warning."""
        self._executor = Executor(
            self.url,
            self.backend,
            label=self.name,
            statement_timeout=self.settings.statement_timeout,
            connect_timeout=self.settings.connect_timeout,
            max_cell_chars=self.settings.max_cell_chars,
            writable=self.writable,
        )
        problem = await self._executor.check()
        if problem is not None:
            logger.warning(
                "SQL connector %r: %s Its tools will report errors until the database answers.",
                self.name,
                problem,
            )

    async def stop(self) -> None:
        if self._executor is not None:
            await self._executor.close()
            self._executor = None

    async def ready(self) -> bool:
        return self._executor is not None and await self._executor.check() is None

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            raise ToolError(f"The {self.name} database connector has not started.")
        return self._executor

    # -- tools -------------------------------------------------------------------------------

    def _named(self, tool: str) -> str:
        """A sibling tool's name as clients see it (with tool_prefix)."""
        return self.config.tool_prefix + tool

    def _about(self) -> str:
        what = f" ({self.settings.description.strip()})" if self.settings.description.strip() else ""
        return f"the '{self.name}' {self.backend.label} database{what}"

    def tools(self) -> Sequence[Tool]:
        tools = [
            Tool(
                name="list_tables",
                title=f"List tables in {self.name}",
                description=(
                    f"List the tables and views of {self._about()} that can be queried, with their "
                    f"approximate row counts and comments. Start here, then call {self._named('describe_table')} "
                    "for the columns of the tables you need."
                ),
                input_schema=LIST_INPUT,
                output_schema=LIST_OUTPUT,
                hints=_READ,
                handler=self._list_tables_tool,
            ),
            Tool(
                name="describe_table",
                title=f"Describe a table in {self.name}",
                description=(
                    f"Describe one table or view of {self._about()}: its columns (type, nullable, "
                    "default, comment), primary key, foreign keys (how tables join), indexes and an "
                    "approximate row count. Use it before writing a query."
                ),
                input_schema=DESCRIBE_INPUT,
                output_schema=DESCRIBE_OUTPUT,
                hints=_READ,
                handler=self._describe_table_tool,
            ),
        ]
        if self.settings.allow_raw_queries:
            tools.append(self._run_query_tool_spec())
        tools.extend(self._query_tool(query) for query in self.settings.queries)
        tools.extend(self._statement_tool(statement) for statement in self.settings.statements)
        return tools

    def _run_query_tool_spec(self) -> Tool:
        limit = self.settings.max_rows
        return Tool(
            name="run_query",
            title=f"Query {self.name} (read-only)",
            description=(
                f"Run one read-only SQL query against {self._about()} and return at most {limit} rows "
                f"as columns and rows. Write {self.backend.label} SQL: a single SELECT, optionally with "
                "WITH, JOIN, GROUP BY, UNION. Anything else is refused without running: INSERT, UPDATE, "
                "DELETE, DDL, several statements, SELECT … INTO, FOR UPDATE. The query is cancelled after "
                f"{self.settings.statement_timeout:g} seconds. Learn the tables with "
                f"{self._named('list_tables')} and {self._named('describe_table')} first, and aggregate "
                "or filter in SQL rather than fetching many rows."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "sql": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_SQL_CHARS,
                        "description": "One SELECT query, without parameters or trailing statements.",
                    },
                    "max_rows": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": limit,
                        "description": f"Return at most this many rows (default and maximum {limit}).",
                    },
                },
                "required": ["sql"],
                "additionalProperties": False,
            },
            output_schema=QUERY_OUTPUT,
            hints=_READ,
            handler=self._run_query,
        )

    def _query_tool(self, query: NamedQuery) -> Tool:
        limit = min(query.max_rows or self.settings.max_rows, self.settings.max_rows)
        statement = text(query.sql).bindparams(*bind_parameters(query.parameters))

        async def handler(arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
            values = _values(query, arguments)
            async with self.executor.session() as conn:
                result = await self.executor.fetch(conn, statement, values, limit)
            return ToolOutput(result.text(limit), result.structured())

        return Tool(
            name=query.name,
            title=query.display_title,
            description=f"{query.description.strip()} (Read-only query on {self._about()}; at most {limit} rows.)",
            input_schema=input_schema(query.parameters),
            output_schema=QUERY_OUTPUT,
            hints=_READ,
            handler=handler,
        )

    def _statement_tool(self, named: NamedStatement) -> Tool:
        statement = text(named.sql).bindparams(*bind_parameters(named.parameters))
        limit = self.settings.max_rows

        async def handler(arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
            values = _values(named, arguments)
            result = await self.executor.write(statement, values, limit)
            return ToolOutput(result.text(limit), result.structured())

        return Tool(
            name=named.name,
            title=named.display_title,
            description=(
                f"{named.description.strip()} (Changes {self._about()}: runs in a transaction that is "
                "committed only if it succeeds, and reports the number of rows affected.)"
            ),
            input_schema=input_schema(named.parameters),
            output_schema=WRITE_OUTPUT,
            hints=ToolHints(
                read_only=False, destructive=named.destructive, idempotent=named.idempotent, open_world=False
            ),
            handler=handler,
        )

    # -- handlers ----------------------------------------------------------------------------

    async def _visibility(self, conn: AsyncConnection) -> Visibility:
        if not self._default_schema_known:
            self._default_schema = await self.backend.default_schema(conn)
            self._default_schema_known = True
        return Visibility(
            tuple(self.settings.schemas) if self.settings.schemas is not None else None,
            tuple(self.settings.tables) if self.settings.tables is not None else None,
            self._default_schema,
        )

    async def list_tables(self) -> list[TableInfo]:
        """The tables and views the tools may use."""
        async with self.executor.session() as conn:
            return await visible_tables(conn, self.backend, await self._visibility(conn))

    async def _list_tables_tool(self, arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
        tables = await self.list_tables()
        payload = {"tables": [t.as_dict() for t in tables]}
        if not tables:
            return ToolOutput(f"No tables are visible in {self._about()}.", payload)
        rows = [
            [t.schema, t.name, t.kind, "?" if t.row_estimate is None else t.row_estimate, t.comment or ""]
            for t in tables
        ]
        table = format_table(["schema", "name", "kind", "rows (approx.)", "comment"], rows)
        return ToolOutput(f"{table}\n({len(tables)} tables and views)", payload)

    async def _describe_table_tool(self, arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
        schema, name = parse_table_name(arguments["table"])
        async with self.executor.session() as conn:
            visibility = await self._visibility(conn)
            table = visibility.resolve(await visible_tables(conn, self.backend, visibility), schema, name)
            if table is None:
                raise ToolError(
                    f"No table or view named {arguments['table']!r} in {self._about()}. "
                    f"Call {self._named('list_tables')} to see the ones you can use."
                )
            description = await describe_table(conn, self.backend, table)
        return ToolOutput(description.text(), description.structured())

    async def _run_query(self, arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
        sql: str = arguments["sql"]
        limit = min(int(arguments.get("max_rows") or self.settings.max_rows), self.settings.max_rows)
        try:
            checked = check_read_only(sql, self.url.get_backend_name())
        except StatementRejected as exc:
            raise ToolError(f"Query refused, nothing was run: {exc}.") from None
        async with self.executor.session() as conn:
            visibility = await self._visibility(conn)
            if visibility.restricted:
                tables = await visible_tables(conn, self.backend, visibility)
                hidden = visibility.hidden_references(tables, checked.tables)
                if hidden:
                    raise ToolError(
                        f"Query refused, nothing was run: it reads {', '.join(hidden)}, which "
                        f"{'is' if len(hidden) == 1 else 'are'} not available through this connector. "
                        f"Call {self._named('list_tables')} to see the tables you can query."
                    )
            result = await self.executor.fetch(conn, literal_sql(checked.sql), None, limit)
        return ToolOutput(result.text(limit), result.structured())


def _values(named: NamedQuery | NamedStatement, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        return bound_values(named.parameters, arguments)
    except ValueError as exc:
        raise ToolError(f"Invalid {exc}.") from None
