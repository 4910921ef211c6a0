"""The upstream connector relaying a server nobody here wrote: @modelcontextprotocol/server-everything
(npm, pinned in tests/interop/node) over Streamable HTTP, through Bridgehead's /mcp to the SDK client.

Runs against each configuration of /mcp (tests/interop/paths.py); with JSON responses the client
speaks the handshake-era protocol, which is what the fast path answers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import RunningServer
from tests.doctor.test_everything import everything_url
from tests.interop.conftest import node_peers
from tests.interop.paths import PATH_IDS, PATHS, MCPPath, check_answered_by, hot_requests, recording

pytestmark = [pytest.mark.node, pytest.mark.timeout(180)]
__all__ = ["everything_url", "node_peers"]

ALLOW = ["echo", "get-sum", "get-tiny-image", "get-structured-content", "get-env"]


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
async def test_server_everything_through_bridgehead(
    server_factory: Callable[..., RunningServer], everything_url: str, path: MCPPath
) -> None:
    upstream = {
        "type": "upstream",
        "name": "everything",
        "tool_prefix": "ev_",
        "url": everything_url,
        "allow": ALLOW,
        "deny": ["get-env"],  # environment dumps stay server-side
    }
    server = server_factory(connectors=[upstream], mcp=path.mcp)
    mode = "legacy" if path.mcp.get("json_response") else "auto"
    with recording() as handled:
        await _relay(server, mode)
    check_answered_by(path.fast, path.id, hot_requests(handled, port=server.port))


async def _relay(server: RunningServer, mode: str) -> None:
    async with Client(server.mcp_url, mode=mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"ev_echo", "ev_get-sum", "ev_get-tiny-image", "ev_get-structured-content"}
        summed = tools["ev_get-sum"]
        assert summed.title == "Get Sum Tool"
        assert summed.annotations and summed.annotations.read_only_hint is True
        assert summed.annotations.destructive_hint is False and summed.annotations.open_world_hint is False
        echo = await client.call_tool("ev_echo", {"message": "hello from Bridgehead"})
        assert not echo.is_error and "hello from Bridgehead" in echo.content[0].text
        total = await client.call_tool("ev_get-sum", {"a": 19, "b": 23})
        assert not total.is_error and "42" in total.content[0].text
        image = await client.call_tool("ev_get-tiny-image", {})
        assert any(block.type == "image" for block in image.content)
        # Bridgehead checks arguments against the upstream's own schema before relaying anything.
        with pytest.raises(MCPError) as wrong:
            await client.call_tool("ev_get-sum", {"a": "nineteen", "b": 23})
        assert wrong.value.code == -32602 and "'a'" in wrong.value.error.message
