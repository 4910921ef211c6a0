"""The MCP server object: the SDK's low-level Server wired to Bridgehead's tool surface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from starlette.requests import Request

from bridgehead import __version__
from bridgehead.config import Settings
from bridgehead.connectors.base import CallContext
from bridgehead.protocol.forwarded import base_url_from_scope
from bridgehead.protocol.tools import ToolSurface

DEFAULT_INSTRUCTIONS = (
    "Bridgehead gives you access to this company's internal documents and systems. "
    "Use `search` to find documents, then `fetch` to read one in full before answering; cite the document URL."
)


def build_mcp_server(settings: Settings, surface: Callable[[], ToolSurface]) -> Server[Any]:
    """A low-level SDK server whose tools come from ``surface()`` at each request (so reloads apply)."""

    def base_url(ctx: ServerRequestContext[Any]) -> str:
        request = ctx.request
        if isinstance(request, Request):
            return base_url_from_scope(request.scope, settings.server.public_base_url)
        if settings.server.public_base_url:
            return settings.server.public_base_url
        return f"http://{settings.server.host}:{settings.server.port}"

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=surface().listing)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await surface().call(params.name, params.arguments, CallContext(base_url=base_url(ctx)))

    return Server(
        settings.mcp.server_name,
        version=__version__,
        title=settings.mcp.server_name,
        instructions=settings.mcp.instructions or DEFAULT_INSTRUCTIONS,
        website_url=settings.server.public_base_url,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
