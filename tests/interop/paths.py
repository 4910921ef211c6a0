"""The ways Bridgehead's /mcp can answer, and a record of which one answered each request.

A POST to /mcp is answered by the SDK's Streamable HTTP transport or, for tools/call,
tools/list and ping in JSON-response mode, by Bridgehead's own fast path
(``bridgehead.protocol.fastpath``), which must put the same bytes on the wire. The
interop tests run their peers against each configuration in ``PATHS``.

A green run against the fast-path configuration proves nothing if the fast path
quietly handed everything to the SDK, so ``record_handling`` notes, for every request
handler that runs, the URL it came in on and whether the fast path ran it. It only
observes: the handlers, their results and the bytes are untouched.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.server import Server
from starlette.requests import Request

from bridgehead.protocol.fastpath import HOT_METHODS, FastPath


@dataclass(frozen=True)
class MCPPath:
    """One configuration of the MCP endpoint: its test id, its ``[mcp]`` settings, and who answers hot requests."""

    id: str
    mcp: dict[str, bool]
    fast: bool  # tools/call, tools/list and ping on /mcp are answered by the fast path

    def toml(self) -> str:
        """The ``[mcp]`` section that selects this configuration."""
        lines = [f"{key} = {json.dumps(value)}" for key, value in self.mcp.items()]
        return "\n".join(["[mcp]", *lines, ""]) if lines else ""


# The defaults: responses are SSE streams, so the fast path (on by default) stands aside.
DEFAULT = MCPPath("default", {}, fast=False)
SDK_PATH = MCPPath("sdk-path", {"json_response": True, "fast_path": False}, fast=False)
FAST_PATH = MCPPath("fast-path", {"json_response": True, "fast_path": True}, fast=True)
PATHS = (DEFAULT, SDK_PATH, FAST_PATH)
PATH_IDS = [path.id for path in PATHS]


@dataclass(frozen=True)
class Handled:
    """One request a handler answered: its method, where it came in, and whether the fast path ran it."""

    method: str
    port: int | None
    path: str
    fast: bool

    @classmethod
    def from_json(cls, line: str) -> Handled:
        return cls(**json.loads(line))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


_in_fast_path: ContextVar[bool] = ContextVar("in_fast_path", default=False)


def record_handling(sink: Callable[[Handled], None]) -> Callable[[], None]:
    """Report every request handler run, in this process, to ``sink``; returns the function that stops it.

    Both paths look their handler up with ``Server.get_request_handler`` and call it with a
    context holding the HTTP request; the fast path does so inside ``FastPath._serve``, except for
    tools/call, which it hands to Bridgehead's own ``call_tool`` (recorded around ``_serve`` here).
    """
    original_serve = FastPath._serve
    original_lookup = Server.get_request_handler

    async def serve(
        self: FastPath, message: dict[str, Any], version: str, request: Request, *args: Any, **kwargs: Any
    ) -> bytes:
        token = _in_fast_path.set(True)
        try:
            return await original_serve(self, message, version, request, *args, **kwargs)
        finally:
            _in_fast_path.reset(token)
            if message.get("method") == "tools/call" and self.call_tool is not None:
                sink(Handled("tools/call", request.url.port, request.url.path, True))

    def lookup(self: Server[Any], method: str) -> Any:
        entry = original_lookup(self, method)
        if entry is None:
            return None
        handler = entry.handler

        def handle(ctx: Any, params: Any) -> Awaitable[Any]:
            request = ctx.request
            url = request.url if isinstance(request, Request) else None
            sink(Handled(method, url.port if url else None, url.path if url else "", _in_fast_path.get()))
            return handler(ctx, params)

        return dataclasses.replace(entry, handler=handle)

    FastPath._serve = serve  # type: ignore[method-assign]
    Server.get_request_handler = lookup  # type: ignore[method-assign]

    def stop() -> None:
        FastPath._serve = original_serve  # type: ignore[method-assign]
        Server.get_request_handler = original_lookup  # type: ignore[method-assign]

    return stop


@contextmanager
def recording() -> Iterator[list[Handled]]:
    """The requests handled in this process (in-process servers) while the block runs."""
    handled: list[Handled] = []
    stop = record_handling(handled.append)
    try:
        yield handled
    finally:
        stop()


def hot_requests(handled: Sequence[Handled], *, port: int | None = None, path: str = "/mcp") -> list[Handled]:
    """The tools/call, tools/list and ping requests that came in on ``path`` (of the server on ``port``)."""
    return [
        item
        for item in handled
        if item.method in HOT_METHODS
        and item.path.rstrip("/") == path
        and (port is None or item.port == port)
    ]


def check_answered_by(fast: bool, label: str, hot: Sequence[Handled]) -> None:
    """There were hot requests, and every one was answered by the fast path (``fast``) or by the SDK."""
    assert hot, (
        f"{label}: no tools/call, tools/list or ping was handled, so nothing shows which path answered"
    )
    wrong = [item for item in hot if item.fast != fast]
    expected = "the fast path" if fast else "the SDK transport"
    assert not wrong, f"{label}: {len(wrong)} of {len(hot)} hot requests not answered by {expected}: {wrong}"
