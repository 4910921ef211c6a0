"""Settings of a SQL connector: where the database is, what may be read, and the named tools.

::

    [[connectors]]
    type = "sql"
    name = "sales"
    url_env = "SALES_DATABASE_URL"      # or url = "…", or url_file = "/run/secrets/sales_url"
    tables = ["orders", "customers"]

    [[connectors.queries]]
    name = "orders_by_region"
    description = "Orders of one region, newest first."
    sql = "SELECT id, total FROM orders WHERE region = :region ORDER BY placed_at DESC LIMIT :limit"
    parameters = { region = { type = "string", enum = ["emea", "amer"] }, limit = { type = "integer", minimum = 1, default = 20 } }
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlglot.errors import ParseError, TokenError

from bridgehead.connectors.base import ConnectorConfig
from bridgehead.connectors.sql.parameters import PARAMETER_NAME, ParameterSpec
from bridgehead.connectors.sql.readonly import SQLGLOT_DIALECTS, StatementRejected, check_read_only

# (backend, driver) pairs this connector is built and tested for.
SUPPORTED_DRIVERS = {
    ("sqlite", "aiosqlite"),
    ("postgresql", "asyncpg"),
    ("mysql", "aiomysql"),
    ("mariadb", "aiomysql"),
}
SUPPORTED_SCHEMES = "sqlite+aiosqlite://, postgresql+asyncpg:// or mysql+aiomysql://"
BUILTIN_TOOLS = frozenset({"list_tables", "describe_table", "run_query"})
TOOL_NAME = r"^[a-z][a-z0-9_]{0,63}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class DatabaseURLError(ValueError):
    """The database URL is missing, unreadable or names an unsupported driver."""


def resolve_url(url: SecretStr | None, url_env: str | None, url_file: Path | None) -> str:
    """The database URL from whichever of the three settings is given (exactly one must be)."""
    given = [key for key, value in (("url", url), ("url_env", url_env), ("url_file", url_file)) if value]
    if len(given) != 1:
        raise DatabaseURLError(
            "set exactly one of url, url_env (an environment variable holding the URL) "
            f"or url_file (a file holding it); found {', '.join(given) or 'none'}"
        )
    if url is not None:
        return url.get_secret_value()
    if url_env:
        value = os.environ.get(url_env, "").strip()
        if not value:
            raise DatabaseURLError(f"the environment variable {url_env} is not set or empty")
        return value
    assert url_file is not None
    try:
        value = url_file.expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DatabaseURLError(f"cannot read {url_file}: {exc.strerror or exc}") from None
    if not value:
        raise DatabaseURLError(f"{url_file} is empty")
    return value


def parse_url(raw: str) -> URL:
    """The URL, checked for a supported async driver; errors never repeat the URL (it holds secrets)."""
    try:
        parsed = make_url(raw)
    except (ArgumentError, ValueError):
        raise DatabaseURLError(f"not a database URL; expected {SUPPORTED_SCHEMES}…") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if (backend, driver) not in SUPPORTED_DRIVERS:
        raise DatabaseURLError(
            f"unsupported database URL scheme {parsed.drivername!r}; use {SUPPORTED_SCHEMES}"
        )
    return parsed


def bind_names(sql: str) -> set[str]:
    """The ``:name`` parameters SQLAlchemy will bind in this SQL."""
    return set(text(sql).compile().params)


class NamedSQL(BaseModel):
    """What named queries and statements share: a tool name, its text, and ``:name`` parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME, description="The tool's name (before tool_prefix).")
    title: str = Field(default="", description="A short human title; defaults to the name.")
    description: str = Field(min_length=1, description="What the tool returns or does, for the model.")
    sql: str = Field(min_length=1, description="The SQL, with :name placeholders for the parameters.")
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        bad = [name for name in parameters if not PARAMETER_NAME.match(name)]
        if bad:
            raise ValueError(f"parameter names must be identifiers: {', '.join(bad)}")
        return parameters

    @model_validator(mode="after")
    def _parameters_match_sql(self) -> NamedSQL:
        used = bind_names(self.sql)
        declared = set(self.parameters)
        if used - declared:
            missing = ", ".join(f":{n}" for n in sorted(used - declared))
            raise ValueError(f"the SQL uses {missing} but `parameters` does not declare it")
        if declared - used:
            unused = ", ".join(sorted(declared - used))
            raise ValueError(f"parameters {unused} are declared but the SQL never uses them")
        return self

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()


class NamedQuery(NamedSQL):
    """A read query served as its own read-only tool."""

    max_rows: int | None = Field(
        default=None,
        ge=1,
        description="Return at most this many rows (never more than the connector's max_rows).",
    )


class NamedStatement(NamedSQL):
    """A write statement (INSERT/UPDATE/DELETE/…) served as its own tool; hidden when read_only."""

    destructive: bool = Field(
        default=True, description="Whether it may delete or overwrite data (ChatGPT then asks first)."
    )
    idempotent: bool = Field(default=False, description="Whether running it twice equals running it once.")


class SQLConfig(ConnectorConfig):
    """Settings of a SQL connector."""

    type: Literal["sql"] = "sql"
    name: str = Field(default="db", pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    url: SecretStr | None = Field(
        default=None, description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user:pw@host/db."
    )
    url_env: str | None = Field(
        default=None, pattern=ENV_NAME, description="Read the URL from this environment variable."
    )
    url_file: Path | None = Field(
        default=None, validate_default=True, description="Read the URL from this file."
    )
    description: str = Field(
        default="", description="What the database holds; added to every tool's description."
    )
    schemas: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Schemas (MySQL: databases) the tools may see; default: the connection's own.",
    )
    tables: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Tables and views the tools may see, as name or schema.name; default: all.",
    )
    max_rows: int = Field(default=200, ge=1, le=10_000)
    statement_timeout: float = Field(default=10.0, gt=0, le=3600, description="Seconds per statement.")
    connect_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds to open a connection.")
    max_cell_chars: int = Field(
        default=2000, ge=16, description="Longer text and binary values are cut to this many characters."
    )
    allow_raw_queries: bool = Field(default=True, description="Offer run_query for any read-only SELECT.")
    queries: list[NamedQuery] = Field(default_factory=list)
    statements: list[NamedStatement] = Field(default_factory=list)

    @field_validator("url_file")
    @classmethod
    def _one_readable_url(cls, url_file: Path | None, info: ValidationInfo) -> Path | None:
        if "url" not in info.data or "url_env" not in info.data:
            return url_file  # already reported on its own key
        parse_url(resolve_url(info.data["url"], info.data["url_env"], url_file))
        return url_file

    @field_validator("tables")
    @classmethod
    def _table_names(cls, tables: list[str] | None) -> list[str] | None:
        for entry in tables or []:
            if not re.match(r"^[^.\s]+(\.[^.\s]+)?$", entry):
                raise ValueError(f"{entry!r} is not a table name or schema.table")
        return tables

    @field_validator("queries")
    @classmethod
    def _queries_read(cls, queries: list[NamedQuery], info: ValidationInfo) -> list[NamedQuery]:
        _check_unique(queries, [])
        backend = _backend_of(info)
        if backend is not None:
            for query in queries:
                try:
                    check_read_only(query.sql, backend)
                except StatementRejected as exc:
                    raise ValueError(
                        f"query {query.name!r} is not a single read-only SELECT ({exc}); "
                        "put writes under [[connectors.statements]]"
                    ) from None
        return queries

    @field_validator("statements")
    @classmethod
    def _statements_single(
        cls, statements: list[NamedStatement], info: ValidationInfo
    ) -> list[NamedStatement]:
        _check_unique(statements, info.data.get("queries") or [])
        backend = _backend_of(info)
        if backend is not None:
            for statement in statements:
                try:
                    parsed = [s for s in sqlglot.parse(statement.sql, read=SQLGLOT_DIALECTS[backend]) if s]
                except (ParseError, TokenError):
                    continue  # dialect syntax sqlglot does not know: the database will judge it
                if len(parsed) != 1:
                    raise ValueError(f"statement {statement.name!r} must be exactly one SQL statement")
        return statements

    def database_url(self) -> URL:
        """The URL to connect to, read now from url, url_env or url_file."""
        return parse_url(resolve_url(self.url, self.url_env, self.url_file))


def _backend_of(info: ValidationInfo) -> str | None:
    """The backend name when the URL settings validated, so SQL can be checked in its dialect."""
    if not {"url", "url_env", "url_file"} <= set(info.data):
        return None
    try:
        url = parse_url(resolve_url(info.data["url"], info.data["url_env"], info.data["url_file"]))
    except DatabaseURLError:
        return None
    return url.get_backend_name()


def _check_unique(items: list[Any], earlier: list[Any]) -> None:
    names = [item.name for item in [*earlier, *items]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool names must be unique; repeated: {', '.join(duplicates)}")
    reserved = sorted(set(names) & BUILTIN_TOOLS)
    if reserved:
        raise ValueError(f"{', '.join(reserved)} is a built-in tool name of the SQL connector")
