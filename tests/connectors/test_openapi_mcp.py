"""The openapi connector end to end: a real Bridgehead server, the official MCP client, a real backend."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningServer
from tests.connectors.openapi_service import API_KEY, Tracker, run_tracker


@pytest.fixture(scope="module")
def tracker() -> Iterator[Tracker]:
    with run_tracker() as running:
        yield running


@pytest.fixture
def server(tracker: Tracker, server_factory: Callable[..., RunningServer], tmp_path: Path) -> RunningServer:
    """Bridgehead with two openapi connectors on the tracker: its 3.1 document and its 3.0 variant."""
    tracker.state.reset()
    key = tmp_path / "tracker-key"
    key.write_text(API_KEY + "\n")
    common = {"allow_private_network": True, "retry_backoff": 0.01, "timeout": 1.5}
    return server_factory(
        connectors=[
            {
                "type": "openapi",
                "name": "tracker",
                "spec": tracker.spec_url,
                "auth": {"type": "header", "name": "X-API-Key", "value_file": str(key)},
                "max_response_bytes": 4096,
                "overrides": {"searchTickets": {"read_only": True, "title": "Find tickets"}},
                **common,
            },
            {
                "type": "openapi",
                "name": "legacy",
                "tool_prefix": "v30_",
                "spec": tracker.spec_30_url,
                "include_tags": ["tickets"],
                **common,
            },
        ]
    )


def structured(result: Any) -> dict[str, Any]:
    """The result's structured content, which its one text item must repeat as JSON."""
    assert not result.is_error, result.content[0].text
    assert len(result.content) == 1 and result.content[0].type == "text"
    data: dict[str, Any] = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


def error(result: Any) -> str:
    assert result.is_error
    text: str = result.content[0].text
    return text


async def test_tools_list_schemas_and_annotations(server: RunningServer) -> None:
    async with Client(server.mcp_url) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"list_tickets", "create_ticket", "get_ticket", "delete_ticket", "search_tickets"} <= set(tools)
    assert {"v30_list_tickets", "v30_create_ticket", "v30_get_ticket", "v30_delete_ticket"} <= set(tools)
    assert not any(name.startswith("v30_") and "report" in name for name in tools)
    for tool in tools.values():
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.output_schema is not None
        assert tool.annotations is not None and tool.annotations.open_world_hint is True
        assert tool.title and tool.description
    hints = {name: tools[name].annotations for name in ("get_ticket", "create_ticket", "replace_ticket")}
    assert hints["get_ticket"].read_only_hint is True
    assert hints["create_ticket"].read_only_hint is False and hints["create_ticket"].idempotent_hint is False
    assert (
        hints["replace_ticket"].idempotent_hint is True and hints["replace_ticket"].destructive_hint is False
    )
    delete = tools["delete_ticket"].annotations
    assert delete.destructive_hint is True and delete.idempotent_hint is True
    search = tools["search_tickets"]
    assert search.title == "Find tickets" and search.annotations.read_only_hint is True
    create = tools["create_ticket"].input_schema
    assert create["required"] == ["body"] and "Ticket" in create["$defs"]
    assert "X-API-Key" not in tools["list_reports"].input_schema["properties"]
    v30 = tools["v30_create_ticket"].input_schema["properties"]["body"]["properties"]
    assert v30["description"] == {"type": ["string", "null"]}


async def test_calls_with_path_query_header_and_body(server: RunningServer, tracker: Tracker) -> None:
    async with Client(server.mcp_url) as client:
        created = structured(
            await client.call_tool(
                "create_ticket", {"body": {"title": "VPN down", "status": "open", "tags": ["net"]}}
            )
        )
        assert created["status"] == 201 and created["body"]["id"] == 1
        ticket = structured(await client.call_tool("get_ticket", {"ticket_id": 1}))
        assert ticket["body"]["title"] == "VPN down"
        listed = structured(
            await client.call_tool("list_tickets", {"status": "open", "tag": ["net"], "X-Request-Id": "abc"})
        )
        assert listed["headers"]["x-request-id"] == "abc"
        assert [t["id"] for t in listed["body"]["tickets"]] == [1]
        patched = structured(
            await client.call_tool("update_ticket", {"ticket_id": 1, "body": {"status": "closed"}})
        )
        assert patched["body"]["status"] == "closed"
        older = structured(await client.call_tool("v30_list_tickets", {"status": "closed"}))
        assert [t["title"] for t in older["body"]["tickets"]] == ["VPN down"]
        assert structured(await client.call_tool("delete_ticket", {"ticket_id": 1}))["status"] == 204
        gone = error(await client.call_tool("get_ticket", {"ticket_id": 1}))
        assert "HTTP 404" in gone and "no ticket 1" in gone

        reports = structured(await client.call_tool("list_reports", {}))
        assert reports["body"]["reports"] == ["weekly", "monthly"]
        echoed = structured(await client.call_tool("echo_headers", {}))
        assert echoed["body"]["headers"]["x-api-key"] == "[redacted]"
        assert API_KEY not in json.dumps(echoed)
        with pytest.raises(MCPError) as invalid:
            await client.call_tool("v30_get_ticket", {"ticket_id": "one"})
    assert invalid.value.code == -32602 and "ticket_id" in invalid.value.error.message
    assert tracker.state.hits["GET /tickets/1"] == 2


async def test_failures_are_tool_errors(server: RunningServer, tracker: Tracker) -> None:
    async with Client(server.mcp_url) as client:
        boom = error(await client.call_tool("explode", {}))
        assert boom.startswith("GET /boom failed: HTTP 500") and "database on fire" in boom

        assert "after 3 attempts" in error(await client.call_tool("check_status", {}))
        assert "attempts" not in error(await client.call_tool("submit_job", {}))
        assert tracker.state.hits["GET /unavailable"] == 3 and tracker.state.hits["POST /unavailable"] == 1

        started = time.monotonic()
        slow = error(await client.call_tool("slow_report", {}))
        assert "did not answer within 1.5 s" in slow and time.monotonic() - started < 3

        metadata = error(await client.call_tool("fetch_metadata", {}))
        assert "169.254.169.254" in metadata and "link-local" in metadata

        export = structured(await client.call_tool("export_everything", {}))
        assert len(export["body"]) == 4096 and "4096 bytes" in export["truncated"]
