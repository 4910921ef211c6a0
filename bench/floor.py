"""The floor: the least an HTTP server can do to answer a ``tools/call`` of ``search``.

A bare Starlette route that parses the JSON-RPC body with orjson, calls the
same DocumentsConnector.search Bridgehead calls, and returns the same
JSON-RPC result shape (text content plus structured content). No sessions, no
MCP SDK, no schema validation, no pydantic models: whatever Bridgehead spends
beyond this is protocol machinery.

Served the way ``bridgehead serve`` serves: ``python -m bench.floor --config FILE --port N``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.workspace import documents_connector
from bridgehead.config import Settings, load_settings
from bridgehead.connectors.documents.query import QueryError
from bridgehead.runtime import Runtime

_HEALTHY = b'{"status":"ok"}'


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status, media_type="application/json")


def _error(message_id: Any, code: int, message: str) -> Response:
    return _json({"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": message}})


def create_floor_app(settings: Settings) -> Starlette:
    """The bare endpoint over the documents connector configured in ``settings``."""
    runtime = Runtime.create(settings)
    connector = documents_connector(runtime)

    async def tools_call(request: Request) -> Response:
        try:
            message = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(None, -32700, "Parse error")
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return _error(None, -32600, "Only tools/call is served here")
        params = message.get("params") or {}
        query = (params.get("arguments") or {}).get("query")
        if params.get("name") != "search" or not isinstance(query, str):
            return _error(message.get("id"), -32602, "Only search with a query is served here")
        try:
            hits = await connector.search(query)
        except QueryError as exc:
            return _error(message.get("id"), -32602, str(exc))
        base_url = f"{request.url.scheme}://{request.url.netloc}"
        payload = {
            "results": [
                {"id": h.id, "title": h.title, "url": connector.document_url(h.folder, h.path, base_url)}
                for h in hits
            ]
        }
        result = {
            "content": [{"type": "text", "text": orjson.dumps(payload).decode()}],
            "structuredContent": payload,
            "isError": False,
        }
        return _json({"jsonrpc": "2.0", "id": message.get("id"), "result": result})

    async def healthz(request: Request) -> Response:
        return Response(_HEALTHY, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return Starlette(
        routes=[Route("/mcp", tools_call, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = load_settings(args.config, environ={})
    # The same uvicorn options as `bridgehead serve`: loop and HTTP parser on "auto" pick uvloop and httptools.
    uvicorn.run(
        create_floor_app(settings),
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
