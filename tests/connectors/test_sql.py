"""The SQL connector against real SQLite, PostgreSQL and MariaDB databases, through the tool surface."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError
from sqlalchemy import text

from bridgehead.config import ConfigError
from bridgehead.connectors.base import CallContext, ConnectorContext, ToolError
from bridgehead.connectors.registry import build_connectors, collect_tools
from bridgehead.connectors.sql import SQLConnector
from bridgehead.connectors.sql.execution import literal_sql
from bridgehead.protocol.tools import ToolSurface, to_mcp_tool
from bridgehead.store import Database
from tests.conftest import free_port, make_settings
from tests.connectors.sql_databases import (
    FIRST_REF,
    KINDS,
    ORDER_COUNT,
    SLOW_QUERY,
    scalar,
    shop_database,
)

CTX = CallContext(base_url="https://bridgehead.example")
TYPES = {"sql": SQLConnector}


@dataclass
class Served:
    """A started SQL connector and the tool surface built from it."""

    connector: SQLConnector
    surface: ToolSurface

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult:
        return await self.surface.call(name, arguments or {}, CTX)

    async def ok(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.call(name, arguments)
        assert not result.is_error, result.content[0].text
        assert result.structured_content is not None
        schema = self.surface.listed(name).output_schema
        Draft202012Validator(schema).validate(result.structured_content)
        return result.structured_content

    async def error(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        result = await self.call(name, arguments)
        assert result.is_error, result.structured_content
        return result.content[0].text


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture(scope="module", params=KINDS)
def shop_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The seeded shop on each backend, shared by the module; tests that write undo it."""
    with shop_database(request.param, tmp_path_factory.mktemp("shop")) as url:
        yield url


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """Build and start SQL connectors from config tables; all are stopped after the test."""
    store = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")  # the connector never touches it
    started: list[SQLConnector] = []

    async def make(url: str, **config: Any) -> Served:
        settings = make_settings(tmp_path / "settings")
        table = {"type": "sql", "name": "shop", "url": url, "max_rows": 50, "statement_timeout": 5, **config}
        [connector] = build_connectors([table], ConnectorContext(settings, store), types=TYPES)
        assert isinstance(connector, SQLConnector)
        await connector.start()
        started.append(connector)
        return Served(connector, ToolSurface(collect_tools([connector])))

    yield make
    for connector in started:
        await connector.stop()
    await store.close()


def backend(url: str) -> str:
    return url.split("+", 1)[0]


# -- catalog -----------------------------------------------------------------------------------


async def test_list_tables_shows_tables_and_views_with_statistics(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    listed = (await served.ok("list_tables"))["tables"]
    by_name = {t["name"]: t for t in listed}
    assert set(by_name) == {"customers", "orders", "secrets", "audit_log", "big_orders"}
    assert by_name["big_orders"]["kind"] == "view"
    assert by_name["orders"]["kind"] == "table"
    # orders was analysed: every database reports its size from its own statistics.
    assert by_name["orders"]["row_estimate"] is not None
    if backend(shop_url) == "postgresql":
        assert by_name["orders"]["row_estimate"] == ORDER_COUNT
        assert by_name["customers"]["comment"] == "People and companies that buy from us"
    text_result = (await served.call("list_tables")).content[0].text
    assert "big_orders" in text_result and "view" in text_result


async def test_describe_table_reports_columns_keys_indexes_and_size(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    described = await served.ok("describe_table", {"table": "orders"})
    columns = {c["name"]: c for c in described["columns"]}
    assert list(columns) == ["id", "customer_id", "total", "placed_at", "note", "payload", "ref"]
    assert columns["customer_id"]["nullable"] is False
    assert columns["note"]["nullable"] is True
    assert "NUMERIC" in columns["total"]["type"].upper() or "DECIMAL" in columns["total"]["type"].upper()
    assert described["primary_key"] == ["id"]
    assert columns["id"]["primary_key"] is True
    [fk] = described["foreign_keys"]
    assert fk["columns"] == ["customer_id"]
    assert fk["references"]["table"] == "customers" and fk["references"]["columns"] == ["id"]
    assert any(
        i["name"] == "orders_customer_idx" and i["columns"] == ["customer_id"] for i in described["indexes"]
    )
    expected_source = {
        "sqlite": "sqlite_stat1",
        "postgresql": "pg_class.reltuples",
        "mysql": "information_schema.tables.table_rows",
    }[backend(shop_url)]
    assert described["row_estimate_source"] == expected_source
    assert described["row_estimate"] > 0
    text_result = (await served.call("describe_table", {"table": "orders"})).content[0].text
    assert "(customer_id) -> " in text_result and "orders_customer_idx" in text_result


async def test_describe_table_without_statistics_counts_rows(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    described = await served.ok("describe_table", {"table": "customers"})
    if backend(shop_url) == "mysql":
        assert described["row_estimate_source"] == "information_schema.tables.table_rows"
    else:
        assert (described["row_estimate"], described["row_estimate_source"]) == (3, "count")
    region = next(c for c in described["columns"] if c["name"] == "region")
    assert region["default"] is not None and "emea" in region["default"]
    if backend(shop_url) != "sqlite":
        name = next(c for c in described["columns"] if c["name"] == "name")
        assert name["comment"] == "Full name"


async def test_describe_table_finds_views_and_qualified_names_but_not_unknown_tables(
    serve: Serve, shop_url: str
) -> None:
    served = await serve(shop_url)
    view = await served.ok("describe_table", {"table": "big_orders"})
    assert view["kind"] == "view" and [c["name"] for c in view["columns"]] == ["id", "customer_id", "total"]
    schema = view["schema"]
    qualified = await served.ok("describe_table", {"table": f"{schema}.customers"})
    assert qualified["name"] == "customers"
    message = await served.error("describe_table", {"table": "no_such_table"})
    assert "No table or view named 'no_such_table'" in message and "list_tables" in message


# -- run_query ---------------------------------------------------------------------------------


async def test_run_query_returns_json_safe_columns_and_rows(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    result = await served.ok(
        "run_query",
        {
            "sql": "SELECT o.id, c.name, o.total, c.signed_up, o.placed_at, o.payload, o.note, o.ref "
            "FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id IN (1, 10) ORDER BY o.id"
        },
    )
    assert result["columns"] == ["id", "name", "total", "signed_up", "placed_at", "payload", "note", "ref"]
    assert result["row_count"] == 2 and result["truncated"] is False
    first, tenth = result["rows"]
    assert first[:4] == [1, "Grace", 2.5, "2023-06-01"]
    assert first[4].replace(" ", "T").startswith("2025-01-01T01:00")  # SQLite keeps the text it was given
    assert first[5] == "AQD/"  # base64 of 01 00 ff
    assert tenth[6] is None
    if backend(shop_url) == "postgresql":
        assert first[7] == str(FIRST_REF)
    total = await served.ok("run_query", {"sql": "SELECT sum(total) AS revenue, count(*) AS n FROM orders"})
    assert total["rows"] == [[sum(i * 2.5 for i in range(1, ORDER_COUNT + 1)), ORDER_COUNT]]
    shown = (
        (await served.call("run_query", {"sql": "SELECT id, name FROM customers ORDER BY id"}))
        .content[0]
        .text
    )
    assert shown.splitlines()[0].split() == ["id", "|", "name"]
    assert "Grace" in shown and shown.endswith("(3 rows)")


async def test_run_query_keeps_max_rows_and_says_when_it_cut(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    result = await served.ok("run_query", {"sql": "SELECT id FROM orders ORDER BY id"})
    assert result["row_count"] == 50 and result["truncated"] is True
    assert [r[0] for r in result["rows"]] == list(range(1, 51))
    text_result = (await served.call("run_query", {"sql": "SELECT id FROM orders"})).content[0].text
    assert "50 rows shown" in text_result
    fewer = await served.ok("run_query", {"sql": "SELECT id FROM orders ORDER BY id", "max_rows": 3})
    assert fewer["rows"] == [[1], [2], [3]] and fewer["truncated"] is True
    exact = await served.ok("run_query", {"sql": "SELECT id FROM orders WHERE id <= 50"})
    assert exact["row_count"] == 50 and exact["truncated"] is False
    # The connection is healthy after a cut-off result (MariaDB's is replaced, not drained).
    assert (await served.ok("run_query", {"sql": "SELECT count(*) FROM orders"}))["rows"] == [[ORDER_COUNT]]
    with pytest.raises(MCPError):
        await served.call("run_query", {"sql": "SELECT 1", "max_rows": 51})


async def test_run_query_takes_colons_and_percent_signs_literally(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    result = await served.ok(
        "run_query", {"sql": "SELECT 'a:b' AS x, '10%' AS y, name FROM customers WHERE name LIKE 'G%'"}
    )
    assert result["rows"] == [["a:b", "10%", "Grace"]]


REFUSED = [
    ("DROP TABLE secrets", "DROP"),
    ("SELECT 1; DROP TABLE secrets", "2 statements"),
    ("SELECT * FROM secrets; DELETE FROM secrets", "2 statements"),
    ("DELETE FROM secrets", "DELETE"),
    ("UPDATE secrets SET value = 'changed'", "UPDATE"),
    ("INSERT INTO secrets (id, value) VALUES (2, 'more')", "INSERT"),
    ("CREATE TABLE intruder (id INTEGER)", "CREATE"),
    ("SELECT * FROM secrets FOR UPDATE", "locks rows"),
    ("TRUNCATE TABLE secrets", "TRUNCATE"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED, ids=[r[1] + ":" + r[0][:20] for r in REFUSED])
async def test_refused_sql_runs_nothing(serve: Serve, shop_url: str, sql: str, reason: str) -> None:
    served = await serve(shop_url)
    message = await served.error("run_query", {"sql": sql})
    assert message.startswith("Query refused, nothing was run:") and reason in message
    assert await scalar(shop_url, "SELECT count(*) FROM secrets WHERE value = 'the vault code'") == 1
    assert await scalar(shop_url, "SELECT count(*) FROM secrets") == 1


DIALECT_REFUSED = {
    "postgresql": [
        ("WITH gone AS (DELETE FROM secrets RETURNING *) SELECT * FROM gone", "DELETE inside the query"),
        ("SELECT pg_sleep(30)", "pg_sleep()"),
        ("SELECT set_config('default_transaction_read_only', 'off', false)", "set_config()"),
    ],
    "mysql": [
        ("SELECT SLEEP(30)", "sleep()"),
        ("SELECT * FROM secrets LOCK IN SHARE MODE", "locks rows"),
        ("SELECT 1 /*! ; DROP TABLE secrets */", "executable comment"),
    ],
    "sqlite": [
        ("PRAGMA query_only = 0", "PRAGMA"),
        ("ATTACH DATABASE 'elsewhere.db' AS elsewhere", "ATTACH"),
    ],
}


async def test_dialect_specific_writes_and_waits_are_refused(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    for sql, reason in DIALECT_REFUSED[backend(shop_url)]:
        message = await served.error("run_query", {"sql": sql})
        assert message.startswith("Query refused, nothing was run:") and reason in message
    assert await scalar(shop_url, "SELECT count(*) FROM secrets") == 1


async def test_the_database_itself_refuses_writes_in_a_read_session(serve: Serve, shop_url: str) -> None:
    """The second guard alone: SQL that skipped the statement check still cannot write."""
    served = await serve(shop_url)
    executor = served.connector.executor
    for statement in [
        "INSERT INTO secrets (id, value) VALUES (2, 'smuggled')",
        "UPDATE secrets SET value = 'changed'",
        "DROP TABLE secrets",
    ]:
        with pytest.raises(ToolError, match="rejected"):
            async with executor.session() as conn:
                await conn.execute(text(statement))
    # Nor can a second statement ride along: prepared statements (PostgreSQL), sqlite3's one
    # statement per call, and the multi-statement option turned off on MariaDB connections.
    refusal = {
        "postgresql": "multiple commands",
        "sqlite": "one statement at a time",
        "mysql": "error in your SQL syntax",
    }[backend(shop_url)]
    with pytest.raises(ToolError, match=refusal):
        async with executor.session() as conn:
            await executor.fetch(conn, literal_sql("SELECT 1; DROP TABLE secrets"), None, 10)
    assert await scalar(shop_url, "SELECT count(*) FROM secrets WHERE value = 'the vault code'") == 1
    # The pool is still usable afterwards.
    assert (await served.ok("run_query", {"sql": "SELECT count(*) FROM secrets"}))["rows"] == [[1]]


async def test_database_errors_become_tool_errors_with_its_message(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url)
    message = await served.error("run_query", {"sql": "SELECT no_such_column FROM customers"})
    assert message.startswith("The database rejected the query:") and "no_such_column" in message
    assert "[SQL:" not in message and "sqlalche.me" not in message
    message = await served.error("run_query", {"sql": "SELECT * FROM no_such_table"})
    assert "no_such_table" in message
    message = await served.error("run_query", {"sql": "SELEC name FROM customers"})
    assert "could not be parsed" in message


async def test_a_slow_query_is_stopped_within_the_timeout(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url, statement_timeout=1)
    started = time.monotonic()
    message = await served.error("run_query", {"sql": SLOW_QUERY})
    elapsed = time.monotonic() - started
    assert "stopped the query after the 1 s limit" in message
    assert elapsed < 3.5
    assert (await served.ok("run_query", {"sql": "SELECT count(*) FROM customers"}))["rows"] == [[3]]


async def test_allow_lists_hide_tables_from_every_tool(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url, tables=["customers", "orders"])
    listed = (await served.ok("list_tables"))["tables"]
    assert {t["name"] for t in listed} == {"customers", "orders"}
    assert "No table or view named 'secrets'" in await served.error("describe_table", {"table": "secrets"})
    message = await served.error("run_query", {"sql": "SELECT * FROM secrets"})
    assert "it reads secrets, which is not available" in message
    message = await served.error(
        "run_query", {"sql": "SELECT c.name FROM customers c JOIN big_orders b ON b.customer_id = c.id"}
    )
    assert "big_orders" in message
    message = await served.error("run_query", {"sql": "SELECT table_name FROM information_schema.tables"})
    assert "information_schema.tables" in message
    if backend(shop_url) == "postgresql":
        assert "pg_user" in await served.error("run_query", {"sql": "SELECT * FROM pg_user"})
    joined = await served.ok(
        "run_query",
        {
            "sql": "WITH o AS (SELECT customer_id FROM orders) SELECT count(*) FROM o JOIN customers c ON c.id = o.customer_id"
        },
    )
    assert joined["rows"] == [[ORDER_COUNT]]
    schema = listed[0]["schema"]
    other = await serve(shop_url, schemas=["not_a_schema"])
    assert (await other.ok("list_tables"))["tables"] == []
    same = await serve(shop_url, schemas=[schema], tables=[f"{schema}.secrets"])
    assert [t["name"] for t in (await same.ok("list_tables"))["tables"]] == ["secrets"]


# -- named queries and statements --------------------------------------------------------------

NAMED_QUERY = {
    "name": "customers_in_region",
    "title": "Customers in a region",
    "description": "Customers of one region who signed up since a date, with their order count.",
    "sql": "SELECT c.name, count(o.id) AS orders FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
    "WHERE c.region = :region AND (:since IS NULL OR c.signed_up >= :since) "
    "GROUP BY c.name ORDER BY c.name LIMIT :limit",
    "parameters": {
        "region": {"type": "string", "description": "Sales region.", "enum": ["emea", "amer"]},
        "since": {"type": "date", "required": False},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    },
}
NAME_SEARCH = {
    "name": "customer_named",
    "description": "The customer with exactly this name.",
    "sql": "SELECT id, name FROM customers WHERE name = :name",
    "parameters": {"name": {"type": "string", "min_length": 1}},
}
LOG_STATEMENT = {
    "name": "log_message",
    "description": "Append a message to the audit log.",
    "sql": "INSERT INTO audit_log (id, message) VALUES (:id, :message)",
    "parameters": {"id": {"type": "integer"}, "message": {"type": "string", "max_length": 200}},
    "destructive": False,
}
CLEAR_STATEMENT = {
    "name": "clear_log",
    "description": "Delete audit log entries from an id on.",
    "sql": "DELETE FROM audit_log WHERE id >= :from_id",
    "parameters": {"from_id": {"type": "integer"}},
    "idempotent": True,
}


async def test_named_query_is_a_typed_read_only_tool(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url, queries=[NAMED_QUERY, NAME_SEARCH], allow_raw_queries=False)
    assert [t.name for t in served.surface.tools] == [
        "list_tables",
        "describe_table",
        "customers_in_region",
        "customer_named",
    ]
    listed = served.surface.listed("customers_in_region")
    assert listed.input_schema == {
        "type": "object",
        "properties": {
            "region": {"type": "string", "description": "Sales region.", "enum": ["emea", "amer"]},
            "since": {"type": "string", "format": "date"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        },
        "required": ["region"],
        "additionalProperties": False,
    }
    assert listed.annotations is not None and listed.annotations.read_only_hint is True
    emea = await served.ok("customers_in_region", {"region": "emea"})
    assert emea["rows"] == [["Ada", 40], ["Linus", 40]]
    recent = await served.ok("customers_in_region", {"region": "emea", "since": "2024-01-01", "limit": 5})
    assert recent["rows"] == [["Ada", 40]]
    assert (await served.ok("customers_in_region", {"region": "emea", "limit": 1}))["row_count"] == 1
    # Values are bound, never pasted into the SQL.
    assert (await served.ok("customer_named", {"name": "x' OR '1'='1"}))["rows"] == []
    assert (await served.ok("customer_named", {"name": "Ada"}))["rows"] == [[1, "Ada"]]
    with pytest.raises(MCPError, match="region"):
        await served.call("customers_in_region", {"region": "apac"})
    with pytest.raises(MCPError, match="missing required argument 'region'"):
        await served.call("customers_in_region", {})
    with pytest.raises(MCPError, match="unexpected argument"):
        await served.call("customers_in_region", {"region": "emea", "sql": "DROP TABLE secrets"})
    assert "not a date" in await served.error("customers_in_region", {"region": "emea", "since": "yesterday"})


async def test_named_statement_commits_on_success_and_rolls_back_on_failure(
    serve: Serve, shop_url: str
) -> None:
    served = await serve(shop_url, statements=[LOG_STATEMENT, CLEAR_STATEMENT])
    log = served.surface.listed("log_message").annotations
    assert log is not None and (log.read_only_hint, log.destructive_hint, log.idempotent_hint) == (
        False,
        False,
        False,
    )
    clear = served.surface.listed("clear_log").annotations
    assert clear is not None and (clear.read_only_hint, clear.destructive_hint, clear.idempotent_hint) == (
        False,
        True,
        True,
    )
    try:
        done = await served.ok("log_message", {"id": 1, "message": "hello"})
        assert done == {"rows_affected": 1}
        assert await scalar(shop_url, "SELECT message FROM audit_log WHERE id = 1") == "hello"
        message = await served.error("log_message", {"id": 1, "message": "again"})
        assert message.startswith("The database rejected the statement:") and "Nothing was changed" in message
        assert await scalar(shop_url, "SELECT count(*) FROM audit_log") == 1
    finally:
        cleared = await served.ok("clear_log", {"from_id": 0})
    assert cleared["rows_affected"] == 1
    assert await scalar(shop_url, "SELECT count(*) FROM audit_log") == 0


async def test_read_only_connector_offers_no_write_tools(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url, statements=[LOG_STATEMENT], queries=[NAME_SEARCH], read_only=True)
    assert [t.name for t in served.surface.tools] == [
        "list_tables",
        "describe_table",
        "run_query",
        "customer_named",
    ]
    with pytest.raises(ToolError, match="does not allow writes"):
        async with served.connector.executor.session(write=True):
            pass


async def test_tool_prefix_names_every_tool(serve: Serve, shop_url: str) -> None:
    served = await serve(shop_url, tool_prefix="shop_", queries=[NAME_SEARCH])
    assert [t.name for t in served.surface.tools] == [
        "shop_list_tables",
        "shop_describe_table",
        "shop_run_query",
        "shop_customer_named",
    ]
    assert (await served.ok("shop_customer_named", {"name": "Ada"}))["rows"] == [[1, "Ada"]]
    # Descriptions and messages point at sibling tools by the names clients see.
    assert "shop_describe_table" in served.surface.listed("shop_list_tables").description
    assert "Call shop_list_tables" in await served.error("shop_describe_table", {"table": "nope"})


# -- an unreachable database -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
async def test_unreachable_database_is_a_tool_error_not_a_crash(
    serve: Serve, tmp_path: Path, kind: str
) -> None:
    port = free_port()
    url = {
        "sqlite": f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}",
        "postgresql": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nowhere",
        "mariadb": f"mysql+aiomysql://root@127.0.0.1:{port}/nowhere",
    }[kind]
    started = time.monotonic()
    served = await serve(url, connect_timeout=2)
    assert await served.connector.ready() is False
    expected = "does not exist" if kind == "sqlite" else "database is unreachable"
    assert expected in await served.error("list_tables")
    assert expected in await served.error("run_query", {"sql": "SELECT 1"})
    assert time.monotonic() - started < 10
    assert not (tmp_path / "missing.db").exists()  # SQLite did not create an empty file


# -- configuration -----------------------------------------------------------------------------


def build(tmp_path: Path, **config: Any) -> SQLConnector:
    settings = make_settings(tmp_path / "settings")
    table = {"type": "sql", "name": "shop", **config}
    [connector] = build_connectors([table], ConnectorContext(settings, None), types=TYPES)  # type: ignore[arg-type]
    assert isinstance(connector, SQLConnector)
    return connector


def problems(tmp_path: Path, **config: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, **config)
    return str(caught.value)


def test_url_can_come_from_the_environment_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    assert str(build(tmp_path, url_env="SHOP_DATABASE_URL").url) == url
    (tmp_path / "url.txt").write_text(url + "\n")
    assert str(build(tmp_path, url_file=str(tmp_path / "url.txt")).url) == url


def test_url_settings_are_checked_without_revealing_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "set exactly one of url, url_env" in problems(tmp_path)
    both = problems(tmp_path, url="sqlite+aiosqlite:///x.db", url_env="X")
    assert "found url, url_env" in both
    monkeypatch.delenv("SHOP_MISSING_URL", raising=False)
    assert "SHOP_MISSING_URL is not set" in problems(tmp_path, url_env="SHOP_MISSING_URL")
    assert "cannot read" in problems(tmp_path, url_file=str(tmp_path / "absent.txt"))
    sync = problems(tmp_path, url="postgresql+psycopg2://app:hunter2@db.internal/shop")
    assert "connectors[0].url_file" in sync and "postgresql+psycopg2" in sync
    assert "hunter2" not in sync and "db.internal" not in sync
    assert "hunter2" not in problems(tmp_path, url="not a url hunter2")


def test_named_sql_is_checked_at_startup(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    writes = {"name": "wipe", "description": "d", "sql": "DELETE FROM secrets"}
    message = problems(tmp_path, url=url, queries=[writes])
    assert "connectors[0].queries" in message and "not a single read-only SELECT" in message
    assert "[[connectors.statements]]" in message
    undeclared = {"name": "q", "description": "d", "sql": "SELECT * FROM t WHERE a = :a"}
    assert "uses :a but `parameters` does not declare it" in problems(tmp_path, url=url, queries=[undeclared])
    unused = {**undeclared, "sql": "SELECT 1", "parameters": {"a": {}}}
    assert "declared but the SQL never uses them" in problems(tmp_path, url=url, queries=[unused])
    builtin = {"name": "run_query", "description": "d", "sql": "SELECT 1"}
    assert "built-in tool name" in problems(tmp_path, url=url, queries=[builtin])
    twice = {"name": "q", "description": "d", "sql": "SELECT 1"}
    statement = {"name": "q", "description": "d", "sql": "DELETE FROM t"}
    assert "repeated: q" in problems(tmp_path, url=url, queries=[twice], statements=[statement])
    two = {"name": "two", "description": "d", "sql": "DELETE FROM a; DELETE FROM b"}
    assert "exactly one SQL statement" in problems(tmp_path, url=url, statements=[two])
    bad_param = {**undeclared, "parameters": {"a": {"type": "string", "minimum": 1}}}
    assert "minimum/maximum apply to integer" in problems(tmp_path, url=url, queries=[bad_param])
    bad_enum = {**undeclared, "parameters": {"a": {"type": "integer", "enum": ["x"]}}}
    assert "is not an integer" in problems(tmp_path, url=url, queries=[bad_enum])


def test_every_schema_is_2020_12_without_draft_07_forms_and_every_hint_is_set(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    connector = build(tmp_path, url=url, queries=[NAMED_QUERY, NAME_SEARCH], statements=[LOG_STATEMENT])
    tools = connector.tools()
    assert len(tools) == 6
    for tool in tools:
        for schema in (tool.input_schema, tool.output_schema):
            assert schema is not None
            Draft202012Validator.check_schema(schema)
            assert_no_draft_07_forms(schema)
            assert schema["type"] == "object"
        assert tool.input_schema.get("additionalProperties") is False
        annotations = to_mcp_tool(tool).annotations
        assert annotations is not None
        hints = (
            annotations.read_only_hint,
            annotations.destructive_hint,
            annotations.idempotent_hint,
            annotations.open_world_hint,
        )
        assert None not in hints, tool.name
        assert tool.description and tool.title


def assert_no_draft_07_forms(schema: Any, path: str = "#") -> None:
    if isinstance(schema, dict):
        assert not isinstance(schema.get("items"), list), f"array-form items at {path}"
        for keyword in ("additionalItems", "definitions", "dependencies", "$schema"):
            assert keyword not in schema, f"{keyword} at {path}"
        for key, value in schema.items():
            assert_no_draft_07_forms(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            assert_no_draft_07_forms(value, f"{path}/{index}")
