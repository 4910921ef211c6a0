"""The SQL connector end to end: a real server on each database, called by the official MCP client."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from mcp import Client

from tests.conftest import RunningServer, free_port
from tests.connectors.sql_databases import KINDS, ORDER_COUNT, scalar, shop_database
from tests.test_serve_process import bridgehead_process

URL_ENV = "BRIDGEHEAD_TEST_SHOP_URL"

QUERIES = [
    {
        "name": "orders_of_customer",
        "title": "Orders of a customer",
        "description": "The most expensive orders of one customer.",
        "sql": "SELECT id, total FROM orders WHERE customer_id = :customer ORDER BY total DESC LIMIT :limit",
        "parameters": {
            "customer": {"type": "integer", "description": "Customer id.", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 3},
        },
    }
]
STATEMENTS = [
    {
        "name": "log_message",
        "description": "Append a message to the audit log.",
        "sql": "INSERT INTO audit_log (id, message) VALUES (:id, :message)",
        "parameters": {"id": {"type": "integer"}, "message": {"type": "string"}},
        "destructive": False,
    },
    {
        "name": "clear_log",
        "description": "Empty the audit log.",
        "sql": "DELETE FROM audit_log WHERE id > :above",
        "parameters": {"above": {"type": "integer", "default": 0}},
        "idempotent": True,
    },
]


@pytest.fixture(scope="module", params=KINDS)
def shop_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with shop_database(request.param, tmp_path_factory.mktemp("shop")) as url:
        yield url


def sql_connector(**config: Any) -> dict[str, Any]:
    return {"type": "sql", "name": "shop", "max_rows": 25, **config}


async def test_chatgpt_path_on_each_database(
    server_factory: Callable[..., RunningServer], shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The URL (and any password in it) comes from the environment, never the config file.
    monkeypatch.setenv(URL_ENV, shop_url)
    server = server_factory(
        connectors=[sql_connector(url_env=URL_ENV, queries=QUERIES, statements=STATEMENTS)]
    )
    async with Client(server.mcp_url) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == {
            "list_tables",
            "describe_table",
            "run_query",
            "orders_of_customer",
            "log_message",
            "clear_log",
        }
        for tool in listed.values():
            Draft202012Validator.check_schema(tool.input_schema)
            assert tool.output_schema is not None
            Draft202012Validator.check_schema(tool.output_schema)
            hints = tool.annotations
            assert hints is not None
            assert None not in (
                hints.read_only_hint,
                hints.destructive_hint,
                hints.idempotent_hint,
                hints.open_world_hint,
            )
        run_query = listed["run_query"].annotations
        assert run_query is not None and run_query.read_only_hint and not run_query.destructive_hint
        clear = listed["clear_log"].annotations
        assert (
            clear is not None
            and not clear.read_only_hint
            and clear.destructive_hint
            and clear.idempotent_hint
        )

        tables = await client.call_tool("list_tables", {})
        assert not tables.is_error and tables.structured_content is not None
        assert {"customers", "orders", "big_orders"} <= {
            t["name"] for t in tables.structured_content["tables"]
        }

        described = await client.call_tool("describe_table", {"table": "orders"})
        assert described.structured_content is not None
        assert described.structured_content["foreign_keys"][0]["references"]["table"] == "customers"

        result = await client.call_tool(
            "run_query",
            {
                "sql": "SELECT c.name, count(*) AS n FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.name ORDER BY c.name"
            },
        )
        assert not result.is_error
        assert result.structured_content == {
            "columns": ["name", "n"],
            "rows": [["Ada", 40], ["Grace", 40], ["Linus", 40]],
            "row_count": 3,
            "truncated": False,
        }
        assert "Grace" in result.content[0].text

        cut = await client.call_tool("run_query", {"sql": "SELECT id FROM orders"})
        assert cut.structured_content is not None
        assert cut.structured_content["row_count"] == 25 and cut.structured_content["truncated"] is True

        for sql in ["DROP TABLE secrets", "SELECT 1; DROP TABLE secrets", "DELETE FROM secrets"]:
            refused = await client.call_tool("run_query", {"sql": sql})
            assert refused.is_error and "nothing was run" in refused.content[0].text
        assert await scalar(shop_url, "SELECT count(*) FROM secrets") == 1

        failed = await client.call_tool("run_query", {"sql": "SELECT missing_column FROM orders"})
        assert failed.is_error and "missing_column" in failed.content[0].text

        named = await client.call_tool("orders_of_customer", {"customer": 1})
        assert named.structured_content is not None
        assert named.structured_content["rows"] == [
            [ORDER_COUNT, 300],
            [ORDER_COUNT - 3, 292.5],
            [ORDER_COUNT - 6, 285],
        ]

        written = await client.call_tool("log_message", {"id": 7, "message": "from ChatGPT"})
        assert written.structured_content == {"rows_affected": 1}
        assert await scalar(shop_url, "SELECT message FROM audit_log WHERE id = 7") == "from ChatGPT"
        duplicate = await client.call_tool("log_message", {"id": 7, "message": "again"})
        assert duplicate.is_error and "Nothing was changed" in duplicate.content[0].text
        cleared = await client.call_tool("clear_log", {})
        assert cleared.structured_content == {"rows_affected": 1}
        assert await scalar(shop_url, "SELECT count(*) FROM audit_log") == 0


async def test_server_starts_and_answers_while_the_database_is_down(
    server_factory: Callable[..., RunningServer],
) -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/shop"
    server = server_factory(connectors=[sql_connector(url=dead, connect_timeout=2)])
    async with Client(server.mcp_url) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {
            "list_tables",
            "describe_table",
            "run_query",
        }
        result = await client.call_tool("run_query", {"sql": "SELECT 1"})
        assert result.is_error and "database is unreachable" in result.content[0].text
    async with httpx.AsyncClient() as http:
        ready = (await http.get(server.base_url + "/readyz")).json()
    # A database outage fails this connector's calls, not the whole server's readiness.
    assert ready["checks"]["connector:shop"] is False
    assert ready["status"] == "ready"


async def test_toml_config_with_url_from_the_environment(tmp_path: Path) -> None:
    """The documented TOML shape, loaded by a real `bridgehead serve` process."""
    with shop_database("sqlite", tmp_path) as url:
        config = tmp_path / "bridgehead.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [[connectors]]
                type = "sql"
                name = "shop"
                url_env = "{URL_ENV}"
                tables = ["customers", "orders"]

                [[connectors.queries]]
                name = "customers_in_region"
                description = "Customers of one region."
                sql = "SELECT name FROM customers WHERE region = :region ORDER BY name"
                parameters = {{ region = {{ type = "string", enum = ["emea", "amer"] }} }}
                """
            )
        )
        with bridgehead_process(tmp_path, "--config", str(config), env={URL_ENV: url}) as base:
            async with Client(base + "/mcp") as client:
                result = await client.call_tool("customers_in_region", {"region": "emea"})
                hidden = await client.call_tool("run_query", {"sql": "SELECT * FROM secrets"})
    assert result.structured_content is not None
    assert result.structured_content["rows"] == [["Ada"], ["Linus"]]
    assert hidden.is_error and "not available through this connector" in hidden.content[0].text
