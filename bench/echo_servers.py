"""The servers Bridgehead's echo tool is compared with, each serving the same ``echo`` tool.

- ``floor``: a bare Starlette route that parses the JSON-RPC ``tools/call`` with
  orjson and returns the result: no MCP SDK, no validation, no sessions. The
  least any Python HTTP server can do for this call.
- ``sdk``: the official MCP SDK's ``MCPServer`` with its streamable HTTP app.
- ``fastmcp``: ``fastmcp.FastMCP`` with its HTTP app; runs in its own
  virtualenv (``bench/fastmcp_venv.py``), so nothing here imports Bridgehead.

Every server answers with text content only (no structured content), as
Bridgehead's ``functions`` connector does for a function returning ``str``,
and runs under uvicorn with the options ``bridgehead serve`` uses (loop and
HTTP parser on "auto": uvloop and httptools).

    python -m bench.echo_servers {floor,sdk,fastmcp} --port N [--session]

``--session`` keeps sessions (the SDK and fastmcp are stateless otherwise);
responses are JSON, never SSE.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

ECHO_DESCRIPTION = "Return the text it is given."
_HEALTHY = b'{"status":"ok"}'


async def echo(text: str) -> str:
    """Return the text it is given."""
    return text


async def healthz(request: Request) -> Response:
    return Response(_HEALTHY, media_type="application/json")


def floor_app() -> Any:
    """The bare endpoint: orjson in, orjson out."""
    import orjson
    from starlette.applications import Starlette
    from starlette.routing import Route

    def answer(payload: Any) -> Response:
        return Response(orjson.dumps(payload), media_type="application/json")

    def error(message_id: Any, code: int, message: str) -> Response:
        return answer({"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": message}})

    async def tools_call(request: Request) -> Response:
        try:
            message = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(None, -32700, "Parse error")
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return error(None, -32600, "Only tools/call is served here")
        params = message.get("params") or {}
        text = (params.get("arguments") or {}).get("text")
        if params.get("name") != "echo" or not isinstance(text, str):
            return error(message.get("id"), -32602, "Only echo with a text is served here")
        result = {"content": [{"type": "text", "text": await echo(text)}], "isError": False}
        return answer({"jsonrpc": "2.0", "id": message.get("id"), "result": result})

    return Starlette(
        routes=[Route("/mcp", tools_call, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])]
    )


def sdk_app(session: bool) -> Any:
    """The official SDK's MCPServer, JSON responses, stateless unless ``session``."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("echo-sdk", log_level="WARNING")
    server.tool(description=ECHO_DESCRIPTION, structured_output=False)(echo)
    server.custom_route("/healthz", methods=["GET"])(healthz)
    return server.streamable_http_app(json_response=True, stateless_http=not session)


def fastmcp_app(session: bool) -> Any:
    """fastmcp's FastMCP, JSON responses, stateless unless ``session``."""
    from fastmcp import FastMCP  # type: ignore[import-not-found]  # lives in its own virtualenv

    server = FastMCP("echo-fastmcp")
    server.tool(description=ECHO_DESCRIPTION, output_schema=None)(echo)
    server.custom_route("/healthz", methods=["GET"])(healthz)
    return server.http_app(path="/mcp", json_response=True, stateless_http=not session)


APPS = {"floor": lambda session: floor_app(), "sdk": sdk_app, "fastmcp": fastmcp_app}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--session", action="store_true", help="keep sessions (sdk, fastmcp)")
    args = parser.parse_args()
    uvicorn.run(
        APPS[args.kind](args.session),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
