"""What the tools may see of the database, and how a table is described.

``Visibility`` turns the ``schemas``/``tables`` allow-lists into one decision used
by all three tools, so a table hidden from ``list_tables`` can neither be
described nor queried.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import CompileError, NoSuchTableError
from sqlalchemy.ext.asyncio import AsyncConnection

from bridgehead.connectors.sql.backends import Backend, RowEstimate, TableInfo
from bridgehead.connectors.sql.readonly import TableReference


@dataclass(frozen=True)
class Visibility:
    """The configured allow-lists, resolved against the connection's default schema."""

    schemas: tuple[str, ...] | None
    tables: tuple[str, ...] | None
    default_schema: str | None

    @property
    def restricted(self) -> bool:
        """Whether anything is hidden at all (without allow-lists, database grants decide)."""
        return self.schemas is not None or self.tables is not None

    def listed_schemas(self) -> list[str]:
        if self.schemas is not None:
            return list(self.schemas)
        return [self.default_schema] if self.default_schema else []

    def shows(self, table: TableInfo) -> bool:
        """Whether a table of a listed schema passes the ``tables`` allow-list."""
        if self.tables is None:
            return True
        for entry in self.tables:
            schema, _, name = entry.rpartition(".")
            if name.lower() == table.name.lower() and (not schema or schema.lower() == table.schema.lower()):
                return True
        return False

    def resolve(self, tables: Sequence[TableInfo], schema: str | None, name: str) -> TableInfo | None:
        """The visible table a (possibly unqualified) name refers to, or None."""
        wanted_schema = (schema or self.default_schema or "").lower()
        for table in tables:
            if table.name.lower() == name.lower() and table.schema.lower() == wanted_schema:
                return table
        if schema is None:
            # An unqualified name that is unique among the listed schemas is unambiguous.
            matches = [t for t in tables if t.name.lower() == name.lower()]
            if len(matches) == 1:
                return matches[0]
        return None

    def hidden_references(self, tables: Sequence[TableInfo], refs: Sequence[TableReference]) -> list[str]:
        """The tables a query reads that are not visible (empty when nothing is restricted)."""
        if not self.restricted:
            return []
        hidden = []
        for ref in refs:
            wanted_schema = (ref.schema or self.default_schema or "").lower()
            if not any(
                t.name.lower() == ref.name.lower() and t.schema.lower() == wanted_schema for t in tables
            ):
                hidden.append(str(ref))
        return hidden


def parse_table_name(value: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table``, with surrounding quotes removed from each part."""
    schema, dot, name = value.strip().rpartition(".")
    strip = '"`[]'
    return (schema.strip(strip) or None) if dot else None, name.strip(strip)


async def visible_tables(conn: AsyncConnection, backend: Backend, visibility: Visibility) -> list[TableInfo]:
    schemas = visibility.listed_schemas()
    if not schemas:
        return []
    return [t for t in await backend.list_tables(conn, schemas) if visibility.shows(t)]


@dataclass(frozen=True)
class TableDescription:
    """Everything describe_table reports about one table or view."""

    table: TableInfo
    columns: list[dict[str, Any]]
    primary_key: list[str]
    foreign_keys: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    estimate: RowEstimate

    def structured(self) -> dict[str, Any]:
        return {
            "schema": self.table.schema,
            "name": self.table.name,
            "kind": self.table.kind,
            "comment": self.table.comment,
            "columns": self.columns,
            "primary_key": self.primary_key,
            "foreign_keys": self.foreign_keys,
            "indexes": self.indexes,
            "row_estimate": self.estimate.rows,
            "row_estimate_source": self.estimate.source,
        }

    def text(self) -> str:
        rows = "unknown" if self.estimate.rows is None else f"~{self.estimate.rows:,}"
        lines = [
            f"{self.table.kind.capitalize()} {self.table.qualified}: {rows} rows ({self.estimate.source})"
        ]
        if self.table.comment:
            lines.append(self.table.comment)
        lines.append("Columns:")
        for column in self.columns:
            parts = [f"  {column['name']} {column['type']}", "NULL" if column["nullable"] else "NOT NULL"]
            if column["default"] is not None:
                parts.append(f"DEFAULT {column['default']}")
            if column["primary_key"]:
                parts.append("PRIMARY KEY")
            if column["comment"]:
                parts.append(f"-- {column['comment']}")
            lines.append(" ".join(parts))
        if self.foreign_keys:
            lines.append("Foreign keys:")
            for fk in self.foreign_keys:
                ref = fk["references"]
                target = f"{ref['schema']}.{ref['table']}" if ref["schema"] else ref["table"]
                lines.append(f"  ({', '.join(fk['columns'])}) -> {target}({', '.join(ref['columns'])})")
        if self.indexes:
            lines.append("Indexes:")
            for index in self.indexes:
                unique = " UNIQUE" if index["unique"] else ""
                lines.append(f"  {index['name']} ({', '.join(index['columns'])}){unique}")
        return "\n".join(lines)


async def describe_table(conn: AsyncConnection, backend: Backend, table: TableInfo) -> TableDescription:
    """Columns, keys and indexes through SQLAlchemy's reflection, plus the row estimate."""
    schema = backend.reflection_schema(table.schema)
    reflected = await conn.run_sync(_reflect, schema, table.name)
    estimate = await backend.row_estimate(conn, table)
    return TableDescription(table, *reflected, estimate=estimate)


def _type_name(sync_conn: Connection, column_type: Any) -> str:
    try:
        return str(column_type.compile(dialect=sync_conn.dialect))
    except (CompileError, NotImplementedError, AttributeError):
        return str(type(column_type).__name__).upper()


def _reflect(
    sync_conn: Connection, schema: str | None, name: str
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    inspector = inspect(sync_conn)
    raw_columns = inspector.get_columns(name, schema=schema)
    primary_key: list[str] = []
    foreign_keys: list[dict[str, Any]] = []
    indexes: list[dict[str, Any]] = []
    # Views have no keys or indexes; some dialects raise instead of returning nothing.
    with suppress(NotImplementedError, NoSuchTableError):
        primary_key = list(inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or [])
    try:
        for fk in inspector.get_foreign_keys(name, schema=schema):
            foreign_keys.append(
                {
                    "name": fk.get("name"),
                    "columns": list(fk["constrained_columns"]),
                    "references": {
                        "schema": fk.get("referred_schema") or schema,
                        "table": fk["referred_table"],
                        "columns": list(fk["referred_columns"]),
                    },
                }
            )
    except (NotImplementedError, NoSuchTableError):
        pass
    try:
        for index in inspector.get_indexes(name, schema=schema):
            names = [c if c is not None else "(expression)" for c in index.get("column_names") or []]
            indexes.append({"name": index.get("name"), "columns": names, "unique": bool(index.get("unique"))})
    except (NotImplementedError, NoSuchTableError):
        pass
    columns: list[dict[str, Any]] = [
        {
            "name": column["name"],
            "type": _type_name(sync_conn, column["type"]),
            "nullable": bool(column.get("nullable", True)),
            "default": None if column.get("default") is None else str(column["default"]),
            "primary_key": column["name"] in primary_key,
            "comment": column.get("comment"),
        }
        for column in raw_columns
    ]
    return columns, primary_key, foreign_keys, indexes
