"""The Python function connector through the real /mcp endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningServer

CONNECTOR = {"type": "functions", "name": "ops", "module": "tests.connectors.fixture_functions"}


async def test_functions_become_tools(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(connectors=[CONNECTOR])
    async with Client(server.mcp_url) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert list(listed) == ["price_quote", "open_ticket", "close_ticket"]
        quote = listed["price_quote"]
        assert quote.title == "Quote a price for a Northwind part"
        assert "total for the given quantity" in (quote.description or "")
        assert quote.input_schema["required"] == ["sku"]
        assert quote.input_schema["properties"]["currency"]["enum"] == ["EUR", "USD"]
        assert quote.input_schema["additionalProperties"] is False
        assert quote.annotations and quote.annotations.read_only_hint is True
        ticket = listed["open_ticket"]
        assert "ctx" not in ticket.input_schema["properties"]
        assert ticket.annotations and ticket.annotations.read_only_hint is False
        assert ticket.annotations.destructive_hint is False
        closing = listed["close_ticket"]
        assert closing.annotations and closing.annotations.destructive_hint is True

        priced = await client.call_tool("price_quote", {"sku": "TRN-4410", "quantity": 4})
        assert priced.structured_content == {"sku": "TRN-4410", "quantity": 4, "total": 50.0}
        opened = await client.call_tool("open_ticket", {"subject": "Dock offline", "priority": 2})
        assert opened.structured_content and opened.structured_content["link"].startswith(server.base_url)
        number = opened.structured_content["ticket"]
        closed = await client.call_tool("close_ticket", {"number": number})
        assert closed.content[0].text == f"closed {number}"
        again = await client.call_tool("close_ticket", {"number": number})
        assert again.is_error and "no ticket" in again.content[0].text
        refused = await client.call_tool("price_quote", {"sku": "X", "quantity": 0})
        assert refused.is_error and "at least 1" in refused.content[0].text
        with pytest.raises(MCPError) as invalid:
            await client.call_tool("price_quote", {"sku": "X", "currency": "GBP"})
        assert invalid.value.code == -32602 and "currency" in invalid.value.error.message


async def test_read_only_connector_hides_its_writes(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(connectors=[{**CONNECTOR, "read_only": True}])
    async with Client(server.mcp_url) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["price_quote"]


def test_unimportable_module_is_a_config_error(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    config = Path(str(tmp_path)) / "c.toml"
    config.write_text('[[connectors]]\ntype = "functions"\nname = "x"\nmodule = "no_such_module_here"\n')
    result = subprocess.run(
        [sys.executable, "-m", "bridgehead", "config", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "connectors.x.module" in result.stderr and "no_such_module_here" in result.stderr
