"""A small MCP server used as the *upstream* in tests, written with the official SDK's MCPServer.

Run: python upstream_server.py stdio | python upstream_server.py streamable-http PORT | … sse PORT
"""

from __future__ import annotations

import sys

from mcp.server import MCPServer
from mcp_types import ImageContent, ToolAnnotations

server = MCPServer("upstream-test")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text (a tool with no annotations: treated as a write)."""
    return text.upper()


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def pixel() -> list[ImageContent]:
    """Return a one-pixel PNG."""
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    return [ImageContent(type="image", data=png, mime_type="image/png")]


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ValueError("upstream failure on purpose")


@server.tool()
def secret_admin_tool() -> str:
    """Should be filtered out by the allow-list."""
    return "nope"


if __name__ == "__main__":
    transport = sys.argv[1]
    if transport == "stdio":
        server.run("stdio")
    else:
        port = int(sys.argv[2])
        server.run(transport, host="127.0.0.1", port=port)  # type: ignore[call-overload]
