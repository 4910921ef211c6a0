"""The official MCP Python SDK client against Bridgehead, over both transports ChatGPT speaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningServer


def _client(server: RunningServer, transport: str, mode: str = "auto") -> Client:
    if transport == "sse":
        return Client(sse_client(server.sse_url), mode=mode)  # type: ignore[arg-type]
    return Client(server.mcp_url, mode=mode)  # type: ignore[arg-type]


def _single_json(result: Any) -> dict[str, Any]:
    assert len(result.content) == 1
    assert result.content[0].type == "text"
    payload: dict[str, Any] = json.loads(result.content[0].text)
    assert result.structured_content == payload
    return payload


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_search_and_fetch_contract(sample_server: RunningServer, transport: str, mode: str) -> None:
    async with _client(sample_server, transport, mode) as client:
        listing = await client.list_tools()
        tools = {t.name: t for t in listing.tools}
        assert set(tools) == {"search", "fetch"}
        for tool in tools.values():
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is True
            assert tool.annotations.destructive_hint is False
            assert tool.annotations.open_world_hint is False
            assert tool.title and tool.description and len(tool.description) > 80
        assert tools["search"].input_schema["required"] == ["query"]
        assert tools["fetch"].input_schema["required"] == ["id"]

        found = _single_json(await client.call_tool("search", {"query": "parental leave"}))
        assert set(found) == {"results"}
        assert found["results"], "the sample corpus has a parental leave policy"
        for item in found["results"]:
            assert set(item) == {"id", "title", "url"}
            assert item["url"].startswith(sample_server.base_url + "/documents/")
        first = found["results"][0]
        assert "parental" in first["title"].lower()

        document = _single_json(await client.call_tool("fetch", {"id": first["id"]}))
        assert set(document) == {"id", "title", "text", "url", "metadata"}
        assert document["id"] == first["id"]
        assert document["title"] == first["title"]
        assert document["url"] == first["url"]
        assert "leave" in document["text"].lower()
        assert all(isinstance(v, str) for v in document["metadata"].values())


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_errors_are_protocol_errors(sample_server: RunningServer, transport: str) -> None:
    async with _client(sample_server, transport) as client:
        missing = await client.call_tool("fetch", {"id": "docs:northwind/no-such-file.md"})
        assert missing.is_error
        assert "No document with id" in missing.content[0].text

        with pytest.raises(MCPError) as invalid:
            await client.call_tool("search", {"query": 42})
        assert invalid.value.code == -32602
        assert "query" in invalid.value.error.message

        with pytest.raises(MCPError) as unknown:
            await client.call_tool("delete_everything", {})
        assert unknown.value.code == -32602
        assert "delete_everything" in unknown.value.error.message

        with pytest.raises(MCPError) as extra:
            await client.call_tool("search", {"query": "x", "limit": 5})
        assert extra.value.code == -32602
        assert "limit" in extra.value.error.message


async def test_document_url_serves_the_document(sample_server: RunningServer) -> None:
    import httpx

    async with Client(sample_server.mcp_url) as client:
        found = _single_json(await client.call_tool("search", {"query": '"severity 1 incident"'}))
    assert found["results"]
    async with httpx.AsyncClient() as http:
        page = await http.get(found["results"][0]["url"], params={"q": "severity"})
    assert page.status_code == 200
    assert "<mark>" in page.text
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "overrides",
    [
        {"mcp": {"stateless": True, "json_response": True}},
        {"mcp": {"stateless": True}},
        {"mcp": {"json_response": True}},
    ],
    ids=["stateless-json", "stateless-sse", "stateful-json"],
)
async def test_response_modes(
    server_factory: Callable[..., RunningServer], overrides: dict[str, Any]
) -> None:
    server = server_factory(**overrides)
    for mode in ("auto", "legacy"):
        async with Client(server.mcp_url, mode=mode) as client:
            found = _single_json(await client.call_tool("search", {"query": "expenses"}))
            assert found["results"]
