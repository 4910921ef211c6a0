"""SDK server middleware: who is connected (for notifications) and ChatGPT's per-tool securitySchemes."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from mcp.server import ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp.server.session import ServerSession

logger = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 5.0


class ConnectedSessions:
    """Remembers one server session per live connection, so changes can be announced to all of them."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakKeyDictionary[Any, ServerSession] = weakref.WeakKeyDictionary()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        connection = getattr(ctx.session, "_connection", None)
        if connection is not None and getattr(connection, "session_id", None) is not None:
            self._sessions[connection] = ctx.session
        return await call_next(ctx)

    def __len__(self) -> int:
        return len(self._sessions)

    async def notify_tools_changed(self) -> int:
        """Send notifications/tools/list_changed to every connected session; returns how many got it."""
        delivered = 0
        for session in list(self._sessions.values()):
            try:
                await asyncio.wait_for(session.send_tool_list_changed(), NOTIFY_TIMEOUT)
                delivered += 1
            except Exception as exc:  # a closed or stalled stream must not stop the others
                logger.debug("could not notify a session of the tool change: %s", exc)
        return delivered


async def security_schemes_on_tools(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """ChatGPT reads per-tool ``securitySchemes`` both on the tool and in its ``_meta``.

    The SDK keeps only spec fields on the wire, so the first-class field is
    added back here, after serialisation, from ``_meta``.
    """
    result = await call_next(ctx)
    if ctx.method == "tools/list" and isinstance(result, dict):
        for tool in result.get("tools", []):
            schemes = (tool.get("_meta") or {}).get("securitySchemes")
            if schemes is not None:
                tool["securitySchemes"] = schemes
    return result
