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


# Schemas as an older server writes them: draft-07 (array-form ``items``, ``additionalItems``,
# ``definitions``, ``dependencies``) and draft-04 (boolean ``exclusiveMinimum``). Bridgehead
# must relay them as JSON Schema 2020-12.
LEGACY_INPUT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {
        "point": {
            "type": "array",
            "items": [{"type": "number"}, {"type": "number"}],
            "additionalItems": False,
        }
    },
    "properties": {
        "at": {"$ref": "#/definitions/point"},
        "tags": {"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "string"}},
        "speed": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "unit": {"enum": ["km", "mi"]},
    },
    "dependencies": {"unit": ["at"], "tags": {"required": ["at"]}},
    "required": ["at"],
}
LEGACY_OUTPUT = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {"distance": {"type": "number", "minimum": 0}},
    "properties": {"distance": {"$ref": "#/definitions/distance"}},
    "required": ["distance"],
}


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
def legacy_route(
    at: list[float], tags: list[str] | None = None, speed: float = 1.0, unit: str = "km"
) -> dict[str, float]:
    """Distance of a point from the origin (its schemas are written in draft-07)."""
    return {"distance": abs(at[0]) + abs(at[1])}


# The SDK derives schemas from the signature; replace them with the legacy ones (test fixture only).
_legacy = server._tool_manager.get_tool("legacy_route")
assert _legacy is not None
_legacy.parameters = LEGACY_INPUT
_legacy.fn_metadata.output_schema = LEGACY_OUTPUT


if __name__ == "__main__":
    transport = sys.argv[1]
    if transport == "stdio":
        server.run("stdio")
    else:
        port = int(sys.argv[2])
        server.run(transport, host="127.0.0.1", port=port)  # type: ignore[call-overload]
