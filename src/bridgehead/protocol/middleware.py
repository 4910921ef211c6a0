"""SDK server middleware: who is connected (for notifications) and ChatGPT's per-tool securitySchemes."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from mcp.server import ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult
from mcp_types import JSONRPCNotification
from starlette.requests import Request

from bridgehead.protocol.session_registry import SessionRegistry
from bridgehead.protocol.standalone_streams import StandaloneStreams

logger = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 5.0
TOOLS_CHANGED = JSONRPCNotification(jsonrpc="2.0", method="notifications/tools/list_changed")
"""What ``Connection.send_tool_list_changed`` sends (no params: JSON-RPC forbids ``"params": null``)."""


class ConnectedSessions:
    """Remembers every live connection, so changes can be announced to all of them, and records each
    new Streamable HTTP session in the registry, so it outlives this process.

    Announcements also reach every open standalone GET stream (``streams``), whose
    session may have left memory while the stream stayed open.
    """

    def __init__(
        self, registry: SessionRegistry | None = None, streams: StandaloneStreams | None = None
    ) -> None:
        # Weak, and nothing here refers back to a connection: once its session ends (or leaves
        # memory) the connection and all it holds are freed, and it drops out of this set.
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.registry = registry
        self.streams = streams

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        connection = getattr(ctx.session, "_connection", None)
        session_id = getattr(connection, "session_id", None) if connection is not None else None
        if isinstance(connection, Connection) and session_id is not None:
            self._connections.add(connection)
        result = await call_next(ctx)
        if ctx.method == "initialize" and session_id is not None and self.registry is not None:
            await self._record(ctx, connection, session_id, result)
        return result

    async def _record(
        self, ctx: ServerRequestContext[Any, Any], connection: Any, session_id: str, result: Any
    ) -> None:
        assert self.registry is not None
        request = ctx.request
        user = request.scope.get("user") if isinstance(request, Request) else None
        owner = dict(authorization_context(user)) if isinstance(user, AuthenticatedUser) else None
        negotiated = result.get("protocolVersion") if isinstance(result, dict) else None
        version = str(negotiated or connection.protocol_version)
        params = ctx.params if isinstance(ctx.params, dict) else None
        try:
            await self.registry.save(session_id, owner, version, dict(params) if params else None)
        except Exception:  # the session still works in this process; only survival is lost
            logger.exception("could not record session %s", session_id[:64])

    def __len__(self) -> int:
        return len(self._connections)

    async def notify_tools_changed(self) -> int:
        """Send notifications/tools/list_changed to every connected session; returns how many were sent.

        Sessions with an open standalone stream get it there directly (stored for replay, as the
        SDK stores it); the others through their connection, which stores it for a stream opened later.
        """
        streamed = await self.streams.broadcast(TOOLS_CHANGED) if self.streams is not None else set()
        delivered = len(streamed)
        for connection in list(self._connections):
            if connection.session_id in streamed:
                continue
            try:
                await asyncio.wait_for(connection.send_tool_list_changed(), NOTIFY_TIMEOUT)
                delivered += 1
            except Exception as exc:  # a closed or stalled stream must not stop the others
                logger.debug("could not notify a session of the tool change: %s", exc)
        return delivered


# The methods whose results security_schemes_on_tools changes: the fast path skips it for the rest.
SECURITY_SCHEMES_METHODS = frozenset({"tools/list"})


async def security_schemes_on_tools(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """ChatGPT reads per-tool ``securitySchemes`` both on the tool and in its ``_meta``.

    The SDK keeps only spec fields on the wire, so the first-class field is
    added back here, after serialisation, from ``_meta``.
    """
    result = await call_next(ctx)
    if ctx.method in SECURITY_SCHEMES_METHODS and isinstance(result, dict):
        for tool in result.get("tools", []):
            schemes = (tool.get("_meta") or {}).get("securitySchemes")
            if schemes is not None:
                tool["securitySchemes"] = schemes
    return result
