"""Assembles the ASGI application: routes, middleware and lifespan. No logic of its own."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from bridgehead.auth.resource import BearerAuthMiddleware, BearerGuard, TokenVerifier
from bridgehead.auth.server import auth_routes
from bridgehead.config import Settings
from bridgehead.policy import Caller
from bridgehead.protocol.fastpath import FastPath
from bridgehead.protocol.forwarded import ForwardedHeadersMiddleware
from bridgehead.protocol.http import MCP_PATH, MCPTransports
from bridgehead.protocol.middleware import (
    SECURITY_SCHEMES_METHODS,
    ConnectedSessions,
    security_schemes_on_tools,
)
from bridgehead.protocol.server import build_mcp_server
from bridgehead.protocol.session_registry import SessionRegistry
from bridgehead.protocol.surface_history import SurfaceVersion
from bridgehead.runtime import Runtime
from bridgehead.web.health import health_routes
from bridgehead.web.session import SessionCodec

logger = logging.getLogger(__name__)


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """The Bridgehead ASGI app for ``settings``; the runtime starts and stops with the app's lifespan."""
    runtime = runtime or Runtime.create(settings)
    registry = (
        None
        if settings.mcp.stateless
        else SessionRegistry(runtime.database, settings.mcp.session_idle_timeout)
    )
    sessions = ConnectedSessions(registry)
    server = build_mcp_server(settings, lambda: runtime.surface, runtime.policy, runtime.audit, sessions)
    transports = MCPTransports(server, settings, registry)
    sessions.streams = transports.streams

    guard = None
    bearer: BearerGuard | None = None
    routes: list[BaseRoute] = []
    if settings.auth.mode != "none":
        verifier = TokenVerifier(runtime.auth)

        def missing_scopes(caller: Caller, tool_name: str) -> list[str]:
            tool = runtime.surface.get(tool_name)
            if tool is None:
                return []
            return list(runtime.policy.decide(caller, tool).missing_scopes)

        bearer = BearerGuard(runtime.auth, verifier, missing_scopes)

        def guard(app: ASGIApp) -> ASGIApp:
            assert bearer is not None
            return BearerAuthMiddleware(app, bearer, settings.mcp.max_request_body_bytes)

        routes += auth_routes(runtime.auth, SessionCodec(lambda: runtime.auth.session_secret))

    routes += [*transports.routes(guard), *health_routes(runtime)]
    for connector in runtime.connectors:
        routes.extend(connector.routes())

    async def announce(version: SurfaceVersion) -> None:
        delivered = await sessions.notify_tools_changed()
        logger.info("announced tool surface version %d to %d session(s)", version.id, delivered)

    runtime.on_surface_change = announce

    async def reload() -> None:
        try:
            await runtime.reload()
        except Exception:
            logger.exception("configuration reload failed; the previous tools stay in service")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        # Everything built so far lives as long as the process: move it out of the collector's
        # sight, so full collections (tens of milliseconds each, the p99 tail under load) stay short.
        gc.collect()
        gc.freeze()
        if registry is not None:
            await registry.prune()
        hangup = _on_sighup(lambda: asyncio.ensure_future(reload())) if runtime.loader else False
        try:
            async with transports.run():
                yield
        finally:
            if hangup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await runtime.stop()

    app = BridgeheadApp(
        routes=routes,
        middleware=[Middleware(ForwardedHeadersMiddleware, trusted=settings.server.trusted_proxies)],
        lifespan=lifespan,
    )
    if settings.mcp.fast_path:
        app.fast_path = FastPath(
            server,
            transports.streamable,
            transports.security,
            app.dispatch,
            guard=bearer,
            max_body=settings.mcp.max_request_body_bytes,
            post_process=security_schemes_on_tools,
            post_process_methods=SECURITY_SCHEMES_METHODS,
            call_tool=server.call_tool,
        )
        app.forwarded = ForwardedHeadersMiddleware(app.dispatch, settings.server.trusted_proxies)
    app.state.runtime = runtime
    app.state.transports = transports
    app.state.reload = reload
    return app


class BridgeheadApp(Starlette):
    """Starlette, with POSTs to the MCP endpoint going to the fast path first.

    The fast path sits in front of Starlette's middleware and router, which cost about as much as
    the fast path's own work; it applies the trusted-proxy headers itself, and hands anything it does
    not serve to the whole app (``dispatch``), which routes it to the SDK transport as before.
    """

    fast_path: FastPath | None = None
    forwarded: ForwardedHeadersMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.fast_path is not None
            and self.forwarded is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and _route_path(scope) in MCP_ENDPOINTS
        ):
            scope["app"] = self
            await self.fast_path(self.forwarded.rewrite(scope), receive, send)
            return
        await super().__call__(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's own handling: middleware, routes, error pages."""
        await super().__call__(scope, receive, send)


MCP_ENDPOINTS = frozenset({MCP_PATH, MCP_PATH + "/"})


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _on_sighup(callback: Callable[[], object]) -> bool:
    """Reload on SIGHUP where the platform and thread allow a signal handler."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        return False
    return True


WORKER_SETTINGS_ENV = "BRIDGEHEAD_WORKER_SETTINGS"


def worker_app() -> Starlette:
    """The app of one ``bridgehead serve --workers N`` worker: the configuration the parent was given."""
    import json
    import os
    from pathlib import Path

    from bridgehead.config import load_settings

    spec = json.loads(os.environ[WORKER_SETTINGS_ENV])
    config = Path(spec["config"]) if spec.get("config") else None
    overrides = spec.get("overrides") or None

    def load() -> Settings:
        return load_settings(config, overrides)

    settings = load()
    logging.basicConfig(
        level=settings.server.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings, Runtime.create(settings, loader=load))
