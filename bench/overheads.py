"""In-process overhead of Bridgehead's layers: what a tools/call adds over calling the backend directly,
per connector, and what token verification adds over an unauthenticated call.

Everything runs in one process and one event loop, through the real ASGI app (httpx's ASGI transport:
no sockets, so the HTTP server and the network are out of the picture). Each figure is the median of
``--rounds`` timed batches, reported as a ratio against its baseline measured in the same run.

    python -m bench.overheads [--calls 400] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bridgehead.app import create_app
from bridgehead.auth.users import UserStore
from bridgehead.config import load_settings
from bridgehead.store import Database

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_SERVER = ROOT / "tests" / "connectors" / "upstream_server.py"


@dataclass(frozen=True)
class Figure:
    label: str
    baseline: str
    per_call_us: float
    baseline_us: float

    @property
    def ratio(self) -> float:
        return self.per_call_us / self.baseline_us if self.baseline_us else float("nan")


async def timed(calls: int, rounds: int, once: Callable[[], Awaitable[object]]) -> float:
    """Median microseconds per call over ``rounds`` batches of ``calls`` (after a warm-up batch)."""
    for _ in range(min(calls, 50)):
        await once()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            await once()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


@contextlib.asynccontextmanager
async def running(overrides: dict[str, Any], workdir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        None,
        {"server": {"data_dir": str(workdir), "public_base_url": "http://bench.local"}, **overrides},
        environ={},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as http:
            yield http


def tool_call(name: str, arguments: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    )


async def call(http: httpx.AsyncClient, body: bytes, headers: dict[str, str] = HEADERS) -> None:
    response = await http.post("/mcp", content=body, headers=headers)
    if response.status_code != 200 or b'"result"' not in response.content:
        raise RuntimeError(f"benchmark call failed: {response.status_code} {response.text[:300]}")


def start_echo_backend() -> tuple[str, Callable[[], None]]:
    """A tiny HTTP backend with its own OpenAPI document, served on 127.0.0.1 by uvicorn in a thread."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    spec = {
        "openapi": "3.1.0",
        "info": {"title": "echo", "version": "1"},
        "paths": {
            "/items/{item}": {
                "get": {
                    "operationId": "getItem",
                    "parameters": [
                        {"name": "item", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }

    async def openapi(_: Any) -> JSONResponse:
        return JSONResponse(spec)

    async def item(request: Any) -> JSONResponse:
        return JSONResponse({"item": request.path_params["item"]})

    app = Starlette(routes=[Route("/openapi.json", openapi), Route("/items/{item}", item)])
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return f"http://127.0.0.1:{port}", stop


async def connector_figures(calls: int, rounds: int, workdir: Path) -> list[Figure]:
    figures: list[Figure] = []
    # SQL: run_query through /mcp vs the same SELECT through SQLAlchemy.
    db_path = workdir / "sales.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, total REAL)"))
        await conn.execute(text("DELETE FROM orders"))
        await conn.execute(text("INSERT INTO orders (id, total) VALUES (1, 10.5), (2, 99.0)"))
    query = "SELECT id, total FROM orders ORDER BY id"

    async def direct_sql() -> None:
        async with engine.connect() as conn:
            (await conn.execute(text(query))).all()

    backend, stop_backend = start_echo_backend()
    backend_client = httpx.AsyncClient(base_url=backend)

    async def direct_http() -> None:
        (await backend_client.get("/items/42")).raise_for_status()

    from tests.connectors import fixture_functions

    async def direct_function() -> None:
        fixture_functions.price_quote("TRN-4410", 2)

    connectors = [
        {"type": "sql", "name": "sales", "url": f"sqlite+aiosqlite:///{db_path}"},
        {
            "type": "openapi",
            "name": "items",
            "spec": backend + "/openapi.json",
            "allow_private_network": True,
        },
        {"type": "functions", "name": "ops", "module": "tests.connectors.fixture_functions"},
        {
            "type": "documents",
            "name": "docs",
            "folders": [{"path": str(ROOT / "src/bridgehead/sample_corpus")}],
        },
    ]
    sys.path.insert(0, str(ROOT))
    try:
        async with (
            running(
                {"mcp": {"stateless": True, "json_response": True}, "connectors": connectors}, workdir
            ) as http,
        ):
            runtime = http._transport.app.state.runtime  # type: ignore[attr-defined]
            documents = next(c for c in runtime.connectors if c.name == "docs")
            cases: list[tuple[str, bytes, str, Callable[[], Awaitable[object]]]] = [
                ("sql run_query", tool_call("run_query", {"sql": query}), "SQLAlchemy SELECT", direct_sql),
                ("openapi GET", tool_call("get_item", {"item": "42"}), "httpx GET", direct_http),
                ("functions price_quote", tool_call("price_quote", {"sku": "TRN-4410", "quantity": 2}), "the function", direct_function),
                ("documents search", tool_call("search", {"query": "parental leave"}), "connector.search()", lambda: documents.search("parental leave")),
            ]  # fmt: skip
            for label, body, baseline, direct in cases:
                through = await timed(calls, rounds, lambda body=body: call(http, body))  # type: ignore[misc]
                bare = await timed(calls, rounds, direct)
                figures.append(Figure(f"{label} via /mcp", baseline, through, bare))
        # The relay on its own server: the same official SDK client Bridgehead uses, straight to the
        # upstream, is the baseline.
        upstream = {
            "type": "upstream",
            "name": "up",
            "tool_prefix": "up_",
            "transport": "stdio",
            "command": sys.executable,
            "args": [str(UPSTREAM_SERVER), "stdio"],
            "allow": ["add"],
        }
        (workdir / "up").mkdir(exist_ok=True)
        parameters = StdioServerParameters(command=sys.executable, args=[str(UPSTREAM_SERVER), "stdio"])
        async with (
            Client(parameters, mode="legacy") as upstream_client,
            running(
                {"mcp": {"stateless": True, "json_response": True}, "connectors": [upstream]}, workdir / "up"
            ) as http,
        ):
            body = tool_call("up_add", {"a": 2, "b": 3})
            through = await timed(calls, rounds, lambda: call(http, body))
            bare = await timed(calls, rounds, lambda: upstream_client.call_tool("add", {"a": 2, "b": 3}))
            figures.append(
                Figure("upstream add (stdio) via /mcp", "the SDK client calling the upstream", through, bare)
            )
    finally:
        await backend_client.aclose()
        stop_backend()
        await engine.dispose()
    return figures


async def auth_figures(calls: int, rounds: int, workdir: Path) -> list[Figure]:
    """Token verification: the same call with and without a bearer token (mixed mode accepts both)."""
    overrides = {
        "mcp": {"stateless": True, "json_response": True},
        "auth": {"mode": "mixed"},
        "connectors": [{"type": "functions", "name": "ops", "module": "tests.connectors.fixture_functions"}],
    }
    sys.path.insert(0, str(ROOT))
    store = Database(f"sqlite+aiosqlite:///{workdir / 'bridgehead.db'}")
    await store.migrate()
    users = UserStore(store, {"admin", "member", "reader"})
    if await users.by_username("bench") is None:
        await users.add("bench", "bench-password-1", "member")
    await store.close()
    body = tool_call("price_quote", {"sku": "TRN-4410"})
    async with running(overrides, workdir) as http:
        runtime = http._transport.app.state.runtime  # type: ignore[attr-defined]
        user = await runtime.auth.users.by_username("bench")
        from bridgehead.auth.grants import Grant

        class Conn:  # the minimum HTTPConnection the minting needs: the public base URL is configured
            def __init__(self) -> None:
                self.scope: dict[str, Any] = {"type": "http", "headers": []}

        grant = Grant(
            "bench-family", "bench-client", user.id, "tools:read tools:write", "http://bench.local/mcp"
        )
        await runtime.auth.clients.database.migrate()
        token = (await runtime.auth.mint(Conn(), grant, user, refresh=False)).access_token  # type: ignore[arg-type]
        async with runtime.database.connect() as conn:
            from sqlalchemy import insert

            from bridgehead.store.models import ClientRow

            await conn.execute(
                insert(ClientRow).values(
                    client_id="bench-client", secret_hash=None, auth_method="none", redirect_uris=[],
                    grant_types=["authorization_code"], scope=None, client_name="bench", metadata={},
                    kind="dynamic", created_at=0, secret_expires_at=0,
                )
            )  # fmt: skip
        authed = {**HEADERS, "authorization": f"Bearer {token}"}
        anonymous = await timed(calls, rounds, lambda: call(http, body))
        verified = await timed(calls, rounds, lambda: call(http, body, authed))
        verifier = runtime.auth.keys
        signature = await timed(
            calls,
            rounds,
            lambda: verifier.verify(token, issuer="http://bench.local", audiences=["http://bench.local/mcp"]),
        )
    return [
        Figure("tools/call with a bearer token", "the same call, anonymous", verified, anonymous),
        Figure("ES256 signature check alone", "an anonymous tools/call", signature, anonymous),
    ]


def render(figures: list[Figure], command: str, calls: int, rounds: int) -> str:
    lines = [
        "## In-process overheads (`bench/overheads.py`)",
        "",
        f"Command: `{command}` · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {calls} calls x {rounds} rounds, "
        "median µs per call. Through the real ASGI app with httpx's ASGI transport (no sockets).",
        "",
        "| measured | baseline (same run) | µs/call | baseline µs/call | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.label} | {f.baseline} | {f.per_call_us:,.0f} | {f.baseline_us:,.0f} | {f.ratio:.2f}x |"
        )
    return "\n".join(lines) + "\n"


async def main_async(calls: int, rounds: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bridgehead-overheads-") as tmp:
        workdir = Path(tmp)
        for sub in ("connectors", "auth"):
            (workdir / sub).mkdir()
        figures = await connector_figures(calls, rounds, workdir / "connectors")
        figures += await auth_figures(calls, rounds, workdir / "auth")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    figures = asyncio.run(main_async(args.calls, args.rounds))
    command = "python -m bench.overheads " + " ".join(sys.argv[1:])
    print(render(figures, command.strip(), args.calls, args.rounds))


if __name__ == "__main__":
    main()
