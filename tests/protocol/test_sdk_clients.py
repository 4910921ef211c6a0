"""The official MCP Python SDK client against Bridgehead, over both transports ChatGPT speaks.

Streamable HTTP also runs against JSON responses through the SDK path and through the fast
path (tests/interop/paths.py), and each test checks which path answered its tools/list and
tools/call: the fast path answers the handshake-era (``legacy``) client; the ``auto`` client
speaks the 2026-07-28 envelope, which the fast path leaves to the SDK transport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningServer, make_settings, serve_in_thread
from tests.interop.paths import (
    DEFAULT,
    FAST_PATH,
    SDK_PATH,
    Handled,
    MCPPath,
    check_answered_by,
    hot_requests,
    recording,
)


@dataclass(frozen=True)
class Target:
    """A client setup: the configuration of /mcp, the transport and the client mode."""

    path: MCPPath
    transport: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.path.id}-{self.transport}-{self.mode}"

    def check_path(self, server: RunningServer, handled: list[Handled]) -> None:
        """The client's hot requests took the fast path exactly when it applies."""
        if self.transport == "sse":
            check_answered_by(False, self.id, hot_requests(handled, port=server.port, path="/messages"))
            return
        fast = self.path.fast and self.mode == "legacy"
        check_answered_by(fast, self.id, hot_requests(handled, port=server.port))


CONTRACT = [
    *(
        Target(DEFAULT, transport, mode)
        for transport in ("streamable-http", "sse")
        for mode in ("auto", "legacy")
    ),
    Target(SDK_PATH, "streamable-http", "legacy"),
    Target(FAST_PATH, "streamable-http", "legacy"),
    Target(FAST_PATH, "streamable-http", "auto"),
]
ERRORS = [
    Target(DEFAULT, "streamable-http", "auto"),
    Target(DEFAULT, "sse", "auto"),
    Target(SDK_PATH, "streamable-http", "legacy"),
    Target(FAST_PATH, "streamable-http", "legacy"),
]


@pytest.fixture(scope="module")
def json_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningServer]]:
    """A server answering with JSON for each of the SDK path and the fast path, by configuration id."""
    tmp: Path = tmp_path_factory.mktemp("paths")
    with (
        serve_in_thread(make_settings(tmp / SDK_PATH.id, mcp=SDK_PATH.mcp)) as sdk,
        serve_in_thread(make_settings(tmp / FAST_PATH.id, mcp=FAST_PATH.mcp)) as fast,
    ):
        yield {SDK_PATH.id: sdk, FAST_PATH.id: fast}


def _server_for(request: pytest.FixtureRequest, target: Target) -> RunningServer:
    if target.path is DEFAULT:
        server: RunningServer = request.getfixturevalue("sample_server")
    else:
        server = request.getfixturevalue("json_servers")[target.path.id]
    return server


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


@pytest.mark.parametrize("target", CONTRACT, ids=[target.id for target in CONTRACT])
async def test_search_and_fetch_contract(request: pytest.FixtureRequest, target: Target) -> None:
    server = _server_for(request, target)
    with recording() as handled:
        await _check_contract(server, target.transport, target.mode)
    target.check_path(server, handled)


async def _check_contract(server: RunningServer, transport: str, mode: str) -> None:
    async with _client(server, transport, mode) as client:
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
            assert item["url"].startswith(server.base_url + "/documents/")
        first = found["results"][0]
        assert "parental" in first["title"].lower()

        document = _single_json(await client.call_tool("fetch", {"id": first["id"]}))
        assert set(document) == {"id", "title", "text", "url", "metadata"}
        assert document["id"] == first["id"]
        assert document["title"] == first["title"]
        assert document["url"] == first["url"]
        assert "leave" in document["text"].lower()
        assert all(isinstance(v, str) for v in document["metadata"].values())


@pytest.mark.parametrize("target", ERRORS, ids=[target.id for target in ERRORS])
async def test_errors_are_protocol_errors(request: pytest.FixtureRequest, target: Target) -> None:
    server = _server_for(request, target)
    with recording() as handled:
        await _check_errors(server, target.transport, target.mode)
    target.check_path(server, handled)


async def _check_errors(server: RunningServer, transport: str, mode: str) -> None:
    async with _client(server, transport, mode) as client:
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
