"""HTTP transports: Streamable HTTP at /mcp and the legacy HTTP+SSE transport at /sse."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import anyio
import mcp_types as types
from anyio.abc import TaskStatus
from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import (
    AuthenticatedUser,
    AuthorizationContext,
    authorization_context,
)
from mcp.server.connection import Connection
from mcp.server.runner import serve_connection
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import (
    GET_STREAM_KEY,
    LAST_EVENT_ID_HEADER,
    MCP_SESSION_ID_HEADER,
    StreamableHTTPServerTransport,
)
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridgehead.config import Settings
from bridgehead.protocol.event_store import MemoryEventStore
from bridgehead.protocol.session_registry import SessionRegistry, StoredSession
from bridgehead.protocol.standalone_streams import OpenStream, StandaloneStreams, TransportSink

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
SSE_MESSAGES_PATH = "/messages/"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
STORE_WRITE_TIMEOUT = 5.0


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
    """The SDK's session manager, with three additions.

    Each session's transport gets its own view of the event store: the SDK hands
    every session the one store it was given and names streams after request ids,
    so with a shared store a client could resume another session's stream
    (``Last-Event-ID: 1:0``) and read its results.

    Sessions live in the store as well (``SessionRegistry``): a session id this
    process does not hold — after a restart, or created by another worker or
    replica — is re-opened for the same principal with what was negotiated at
    initialize, instead of answering 404.

    So an idle session need not stay in memory: with a registry, the SDK's idle
    timeout is the short ``mcp.session_memory_idle_seconds``, after which the
    SDK ends the session's server task and transport as it would at expiry. The
    stored session stays valid until ``mcp.session_idle_timeout`` and its next
    request re-opens it, so the client sees no difference. A session with a
    request in flight never goes idle; a client DELETE removes the stored
    session too.

    With ``streams``, Bridgehead serves the standalone GET stream itself
    (``standalone_streams``): an open stream holds no SDK objects, so its
    session leaves memory like an idle one while the stream stays open and keeps
    the stored session alive. Without, the SDK serves it (tests compare the two).
    """

    registry: SessionRegistry | None = None
    streams: StandaloneStreams | None = None

    async def handle_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The SDK's entry point, minus its body-size limit for GETs without a body.

        The limit reads and buffers the body, and its frame and buffer would stay in memory
        as long as a GET stream is open; a GET that declares a body goes the SDK's way (413
        when too large), as everything else does.
        """
        if self.streams is not None and scope["type"] == "http" and scope["method"] == "GET":
            headers = Headers(scope=scope)
            if "content-length" not in headers and "transfer-encoding" not in headers:
                del headers
                await self._handle_request(scope, receive, send)
                return
        await super().handle_request(scope, receive, send)

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id:
            self._scope_events(transport, transport.mcp_session_id)
        return transport

    def _scope_events(self, transport: StreamableHTTPServerTransport, session_id: str) -> None:
        events = self.event_store
        if isinstance(events, MemoryEventStore):
            # Pinned SDK (mcp==2.3.0): the transport reads _event_store on every use, so swapping it
            # before the session's first request takes effect; tests/protocol/test_session_isolation.py guards it.
            transport._event_store = events.for_session(session_id)

    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = Headers(scope=scope).get(MCP_SESSION_ID_HEADER)
        registry = self.registry
        if not session_id or registry is None:
            await super()._handle_stateful_request(scope, receive, send)
            return
        if scope["method"] == "GET" and self._serves_stream(scope):
            # The checks run in a function of their own: nothing they looked at (the session's
            # transport, its stored row) stays referenced while the stream is open.
            admitted = await self._admit_stream(session_id, scope)
            if admitted == "stream":
                assert self.streams is not None
                await self.streams.handle(scope, receive, send, session_id)
            elif admitted == "terminated":  # being deleted right now: the SDK says so
                await super()._handle_stateful_request(scope, receive, send)
            else:
                await _session_not_found(scope, receive, send)
            return
        transport = await self._in_memory(session_id, scope)
        if transport is None:  # unknown, expired or someone else's: the SDK answers 404
            await super()._handle_stateful_request(scope, receive, send)
        elif scope["method"] == "DELETE":
            await super()._handle_stateful_request(
                scope, receive, _forget_on_success(registry, self.streams, session_id, send)
            )
        else:
            await registry.touch(session_id)
            if _leaving_memory(transport):
                # It went idle while the store was written to: bring it back before the SDK sees it
                # (from here to the SDK's own check nothing waits, so it cannot go idle again).
                await self._in_memory(session_id, scope)
            await super()._handle_stateful_request(scope, receive, send)

    def _serves_stream(self, scope: Scope) -> bool:
        """Whether Bridgehead serves this GET itself: always, except to resume a POST's stream (the SDK
        resumes the request running in the session)."""
        if self.streams is None:
            return False
        last_event_id = Headers(scope=scope).get(LAST_EVENT_ID_HEADER)
        return not last_event_id or self.streams.resumes_here(last_event_id)

    async def _admit_stream(
        self, session_id: str, scope: Scope
    ) -> Literal["stream", "terminated", "unknown"]:
        """Whether the caller may open the session's GET stream, found in memory or in the store;
        the session is not brought into memory for it."""
        assert self.registry is not None
        user = scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        transport = self._server_instances.get(session_id)
        if transport is not None and not _leaving_memory(transport):
            if transport.is_terminated:
                return "terminated"
            known = requestor == self._session_owners.get(session_id)
        else:
            stored = await self.registry.find(session_id)
            owner = dict(requestor) if requestor is not None else None
            known = stored is not None and owner == stored.owner
        if not known:
            return "unknown"
        await self.registry.touch(session_id)
        return "stream"

    async def _attach_stream(self, stream: OpenStream) -> None:
        """Let the session's transport, if in memory, write what it sends to the GET stream into ``stream``."""
        transport = self._server_instances.get(stream.session_id)
        if transport is not None and not transport.is_terminated and not stream.closed:
            # Pinned SDK (mcp==2.3.0): the message router sends GET-stream messages to
            # _request_streams[GET_STREAM_KEY][0] and cleans up with aclose() on both halves;
            # tests/protocol/test_standalone_streams.py guards it.
            sink = TransportSink(stream)
            transport._request_streams[GET_STREAM_KEY] = cast(Any, (sink, sink))

    async def _detach_stream(self, stream: OpenStream) -> None:
        """The stream ended: the transport stops writing into it, and the session's idle period starts now."""
        transport = self._server_instances.get(stream.session_id)
        if transport is not None:
            pair = transport._request_streams.get(GET_STREAM_KEY)
            if pair is not None and isinstance(pair[0], TransportSink) and pair[0].stream is stream:
                del transport._request_streams[GET_STREAM_KEY]
        if self.registry is not None:
            try:
                with anyio.move_on_after(STORE_WRITE_TIMEOUT):
                    await self.registry.touch(stream.session_id)
            except Exception:  # the session still works; it may only expire a little early
                logger.exception("could not record the end of session %s's stream", stream.session_id[:64])

    async def _in_memory(self, session_id: str, scope: Scope) -> StreamableHTTPServerTransport | None:
        """The session's live transport, re-opened from the store if it had left memory."""
        transport = self._server_instances.get(session_id)
        if transport is not None and _leaving_memory(transport):
            # Its idle period ran out a moment ago and its server task is still winding down:
            # finish that now, so this request re-opens the session instead of finding it ended.
            await self._discard_session(session_id, transport)
            transport = None
        if transport is None:
            transport = await self._reopen(session_id, scope)
        return transport

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        if self._server_instances.get(session_id) not in (transport, None):
            # The session left memory and was re-opened meanwhile: end this transport, not the new one.
            if not transport.is_terminated:
                with anyio.CancelScope(shield=True):
                    await transport.terminate()
            return
        await super()._discard_session(session_id, transport)
        if self.registry is not None and _leaving_memory(transport):
            await self._record_idle_start(session_id)

    async def _record_idle_start(self, session_id: str) -> None:
        """Store when the session went idle, so it expires exactly session_idle_timeout after that.

        The store may only know when an earlier request began: requests answered by the
        fast path, and the time a long GET stream closed, are not written as they happen.
        """
        assert self.registry is not None
        idle_since = time.time() - (self.session_idle_timeout or 0.0)
        try:
            with anyio.move_on_after(STORE_WRITE_TIMEOUT, shield=True):
                await self.registry.touch(session_id, at=idle_since)
        except Exception:  # the session still re-opens, only with an earlier expiry
            logger.exception("could not record when session %s went idle", session_id[:64])

    async def _reopen(self, session_id: str, scope: Scope) -> StreamableHTTPServerTransport | None:
        """Bring a stored session back into this process, if it is the caller's and still fresh."""
        assert self.registry is not None
        stored = await self.registry.find(session_id)
        if stored is None:
            return None
        user = scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        if (dict(requestor) if requestor is not None else None) != stored.owner:
            return None  # someone else's session: the SDK answers 404, as for an unknown one
        async with self._session_creation_lock:
            if session_id in self._server_instances:
                return self._server_instances[session_id]
            if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
                return None
            transport = StreamableHTTPServerTransport(
                mcp_session_id=session_id,
                is_json_response_enabled=self.json_response,
                event_store=self.event_store,
                security_settings=self.security_settings,
                retry_interval=self.retry_interval,
                idle_timeout=self.session_idle_timeout,
            )
            self._scope_events(transport, session_id)
            assert self._task_group is not None
            await self._task_group.start(self._serve_reopened, transport, stored)
            if requestor is not None:
                self._session_owners[session_id] = requestor
            self._server_instances[session_id] = transport
            stream = self.streams.get(session_id) if self.streams is not None else None
            if stream is not None:
                await self._attach_stream(stream)
        logger.info("re-opened stored session %s", session_id[:64])
        return transport

    async def _serve_reopened(
        self,
        transport: StreamableHTTPServerTransport,
        stored: StoredSession,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """The SDK's per-session server task, with a connection that is already initialized."""
        session_id = stored.id
        async with transport.connect() as (read_stream, write_stream):
            task_status.started()
            try:
                idle_scope = transport.idle_scope or anyio.CancelScope()
                with idle_scope:
                    dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                        read_stream, write_stream, inline_methods=frozenset({"initialize"})
                    )
                    connection = Connection.for_loop(
                        dispatcher, session_id=session_id, protocol_version_hint=stored.protocol_version
                    )
                    if stored.client_params:
                        connection.client_params = types.InitializeRequestParams.model_validate(
                            stored.client_params
                        )
                    connection.initialized.set()
                    await serve_connection(
                        self.app, dispatcher, connection=connection, lifespan_state=self._lifespan_state
                    )
            except Exception:
                logger.exception("re-opened session %s crashed", session_id[:64])
            finally:
                await self._discard_session(session_id, transport)


def _forget_on_success(
    registry: SessionRegistry, streams: StandaloneStreams | None, session_id: str, send: Send
) -> Send:
    """``send`` that removes the stored session and ends its GET stream once the SDK accepts its DELETE,
    before the client hears so."""

    async def forwarding(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 200:
            await registry.forget(session_id)
            if streams is not None:
                await streams.close(session_id)
        await send(message)

    return forwarding


async def _session_not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The session manager's 404 for an unknown session, expired or someone else's (no session header)."""
    body = JSONRPCError(
        jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message="Session not found")
    )
    response = Response(
        body.model_dump_json(by_alias=True, exclude_unset=True),
        status_code=404,
        media_type="application/json",
    )
    await response(scope, receive, send)


def _leaving_memory(transport: StreamableHTTPServerTransport) -> bool:
    """The session's idle period ran out: the SDK is ending its server task and transport."""
    return transport.idle_scope is not None and transport.idle_scope.cancel_called


class MCPTransports:
    """Both transports ChatGPT speaks, over one SDK server."""

    def __init__(
        self, server: Server[Any], settings: Settings, registry: SessionRegistry | None = None
    ) -> None:
        self.server = server
        self.settings = settings
        security = self.security = transport_security(settings)
        mcp = settings.mcp
        # With a registry an idle session only leaves memory at the SDK's idle timeout; it ends
        # (answers 404) once the registry's session_idle_timeout has passed.
        memory_idle = mcp.memory_idle_seconds() if registry is not None else mcp.session_idle_timeout
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
            session_idle_timeout=memory_idle,
            max_request_body_size=mcp.max_request_body_bytes,
            max_sessions=mcp.max_sessions,
        )
        self.streamable.registry = registry if not mcp.stateless else None
        if self.streamable.registry is not None:
            manager = self.streamable
            manager.streams = StandaloneStreams(
                event_store,
                TransportSecurityMiddleware(security),
                on_open=manager._attach_stream,
                on_close=manager._detach_stream,
            )
        self.streams = self.streamable.streams
        self.sse = SseServerTransport(
            SSE_MESSAGES_PATH, security_settings=security, max_request_body_size=mcp.max_request_body_bytes
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        registry = self.streamable.registry
        streams = self.streams
        async with self.streamable.run(), anyio.create_task_group() as housekeeping:
            if registry is not None:
                housekeeping.start_soon(registry.keep_pruned)
                if streams is not None:
                    housekeeping.start_soon(streams.keep_alive, registry.touch_many, registry.touch_interval)
            try:
                yield
            finally:
                if streams is not None:
                    await streams.close_all()
                housekeeping.cancel_scope.cancel()

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

        ``guard`` wraps every transport endpoint (the bearer-token check in oauth and mixed modes); the
        fast path sits in front of the whole app (``bridgehead.app.BridgeheadApp``). ``front``, when
        given, wraps the guarded Streamable HTTP endpoint (the doctor's broken test servers use it).
        """

        def endpoint(handler: Any) -> ASGIApp:
            app: ASGIApp = _asgi(handler)
            return guard(app) if guard else app

        streamable = endpoint(self.streamable.handle_request)
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

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine of its own: no frame of this wrapper stays on the stack of a long GET stream.
        result: Awaitable[None] = self.handler(scope, receive, send)
        return result
