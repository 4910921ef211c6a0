"""HTTP transports: Streamable HTTP at /mcp and the legacy HTTP+SSE transport at /sse."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridgehead.config import Settings
from bridgehead.protocol.event_store import MemoryEventStore

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
SSE_MESSAGES_PATH = "/messages/"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin checks against DNS rebinding: loopback names plus the public host and any configured ones."""
    server = settings.server
    if not server.dns_rebinding_protection:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = list(server.allowed_hosts)
    origins = list(server.allowed_origins)
    if server.public_base_url:
        parts = urlsplit(server.public_base_url)
        hosts += [parts.netloc, f"{parts.hostname}:*"]
        origins.append(f"{parts.scheme}://{parts.netloc}")
    loopback = server.host in LOOPBACK_HOSTS
    if loopback or not hosts:
        hosts += ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
        origins += ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not loopback and not (server.public_base_url or server.allowed_hosts):
        # Listening on a public interface under a name we were not told: we cannot
        # list valid Host values, so only the Origin check would misfire. Say so once.
        logger.warning(
            "server.host is %s but neither server.public_base_url nor server.allowed_hosts is set: "
            "Host-header checks are off; set one of them to turn DNS-rebinding protection back on",
            server.host,
        )
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class SessionScopedManager(StreamableHTTPSessionManager):
    """The SDK's session manager, with each session's transport on its own view of the event store.

    The SDK hands every session the one store it was given and names streams after
    request ids, so with a shared store a client could resume another session's
    stream (``Last-Event-ID: 1:0``) and read its results.
    """

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        events = self.event_store
        if transport is not None and isinstance(events, MemoryEventStore) and transport.mcp_session_id:
            # Pinned SDK (mcp==2.3.0): the transport reads _event_store on every use, so swapping it
            # before the session's first request takes effect; tests/protocol/test_session_isolation.py guards it.
            transport._event_store = events.for_session(transport.mcp_session_id)
        return transport


class MCPTransports:
    """Both transports ChatGPT speaks, over one SDK server."""

    def __init__(self, server: Server[Any], settings: Settings) -> None:
        self.server = server
        self.settings = settings
        security = self.security = transport_security(settings)
        mcp = settings.mcp
        event_store = (
            MemoryEventStore(mcp.event_store_max_events, stream_ttl=mcp.session_idle_timeout)
            if mcp.event_store_max_events > 0 and not mcp.stateless
            else None
        )
        self.streamable = SessionScopedManager(
            app=server,
            event_store=event_store,
            json_response=mcp.json_response,
            stateless=mcp.stateless,
            security_settings=security,
            session_idle_timeout=mcp.session_idle_timeout,
            max_request_body_size=mcp.max_request_body_bytes,
            max_sessions=mcp.max_sessions,
        )
        self.sse = SseServerTransport(
            SSE_MESSAGES_PATH, security_settings=security, max_request_body_size=mcp.max_request_body_bytes
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.streamable.run():
            yield

    async def handle_streamable(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.streamable.handle_request(scope, receive, send)

    async def handle_sse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await Response("Use GET to open the SSE stream", 405, headers={"Allow": "GET"})(
                scope, receive, send
            )
            return
        try:
            async with self.sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
                await self.server.run(read_stream, write_stream, self.server.create_initialization_options())
        except ValueError:
            # connect_sse already answered (e.g. 403 for a bad Host/Origin).
            return

    async def handle_sse_message(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sse.handle_post_message(scope, receive, send)

    def routes(
        self,
        guard: Callable[[ASGIApp], ASGIApp] | None = None,
        front: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> list[BaseRoute]:
        """Routes that answer directly at both the bare and the slash form: no redirects on protocol paths.

        ``guard`` wraps every transport endpoint (the bearer-token check in oauth and mixed modes);
        ``front`` goes in front of the guarded Streamable HTTP endpoint (the fast path).
        """

        def endpoint(handler: Any) -> ASGIApp:
            app: ASGIApp = _asgi(handler)
            return guard(app) if guard else app

        streamable = endpoint(self.handle_streamable)
        if front is not None:
            streamable = front(streamable)
        routes: list[BaseRoute] = [
            Route(MCP_PATH, streamable, methods=["GET", "POST", "DELETE"]),
            Route(MCP_PATH + "/", streamable, methods=["GET", "POST", "DELETE"]),
        ]
        if self.settings.mcp.legacy_sse:
            sse, messages = endpoint(self.handle_sse), endpoint(self.handle_sse_message)
            routes += [
                Route(SSE_PATH, sse, methods=["GET"]),
                Route(SSE_PATH + "/", sse, methods=["GET"]),
                Route(SSE_MESSAGES_PATH.rstrip("/"), messages, methods=["POST"]),
                Route(SSE_MESSAGES_PATH, messages, methods=["POST"]),
            ]
        return routes


class _asgi:
    """Marks a coroutine as a raw ASGI endpoint for Starlette's Route (it calls it with scope, receive, send)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)
