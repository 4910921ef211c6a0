"""The hot path for the requests that dominate real traffic: tools/call, tools/list and ping.

The SDK transport gives every request its own streams, tasks and (in stateless
mode) a whole server; correct, but most of that work is not needed to answer a
JSON-RPC request with a JSON response. For POSTs to /mcp in JSON-response mode
this path does only what the request needs: one JSON parse, the protocol's own
validation of the params, token verification (cached), the policy decision in
the handler, the handler itself, and one serialisation, through the same SDK
functions the transport uses, so the bytes are the same.

Everything else, and anything the path is not sure about, goes to the SDK
transport unchanged: initialize, notifications, the 2026-07-28 envelope, SSE
responses, GET/DELETE, unknown sessions, malformed messages.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import anyio
import mcp_types as types
import orjson
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import DEFAULT_NEGOTIATED_VERSION
from mcp_types import methods as _methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridgehead.auth.resource import BearerGuard, Denial
from bridgehead.protocol.server import CALLER_SCOPE_KEY, CallTool
from bridgehead.protocol.wire_shapes import handshake_call_result, plain_call_params

logger = logging.getLogger(__name__)

HOT_METHODS = frozenset({"tools/call", "tools/list", "ping"})
MAX_REMEMBERED_ORIGINS = 256
JSON_HEADERS = [(b"content-type", b"application/json")]
SESSION_HEADER = MCP_SESSION_ID_HEADER.encode()


def _accepts_json(accept: bytes) -> bool:
    types_ = {part.split(b";")[0].strip().lower() for part in accept.split(b",")}
    return bool(types_ & {b"application/json", b"application/*", b"*/*"})


class _Remembered:
    """Verdicts on header values, kept for the few distinct values real clients send."""

    def __init__(self, decide: Any, limit: int = MAX_REMEMBERED_ORIGINS) -> None:
        self.decide = decide
        self.limit = limit
        self.known: dict[bytes, bool] = {}

    def __call__(self, value: bytes) -> bool:
        verdict = self.known.get(value)
        if verdict is None:
            verdict = bool(self.decide(value))
            if len(self.known) < self.limit:
                self.known[value] = verdict
        return verdict


def _valid_id(value: Any) -> bool:
    return (isinstance(value, (str, int))) and not isinstance(value, bool)


class FastPath:
    """ASGI front for the MCP endpoint; hands anything it does not serve to ``fallback``."""

    def __init__(
        self,
        server: Server[Any],
        manager: StreamableHTTPSessionManager,
        security: TransportSecuritySettings,
        fallback: ASGIApp,
        *,
        guard: BearerGuard | None,
        max_body: int,
        post_process: Any,
        post_process_methods: frozenset[str],
        call_tool: CallTool | None = None,
    ) -> None:
        self.server = server
        self.manager = manager
        self.security = TransportSecurityMiddleware(security)
        self.fallback = fallback
        self.guard = guard
        self.max_body = max_body
        # The server middleware that rewrites results (per-tool securitySchemes), applied the same way.
        self.post_process = post_process
        # The methods whose results it changes (the others skip two coroutines a request).
        self.post_process_methods = post_process_methods
        # Runs tools/call giving the result's dump (the server's own handler gives its model).
        self.call_tool = call_tool
        # (Host, Origin) pairs the SDK's DNS-rebinding check has accepted: the verdict depends on nothing else.
        self._allowed_origins: set[tuple[bytes | None, bytes | None]] = set()
        self._accepts_json = _Remembered(_accepts_json)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self.manager.json_response:
            await self.fallback(scope, receive, send)
            return
        # First occurrence wins, as Starlette's Headers.get (and so the SDK) reads them.
        headers = {k: v for k, v in reversed(scope["headers"])}
        version = headers.get(b"mcp-protocol-version", b"").decode("latin-1")
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (
            (version and version not in HANDSHAKE_PROTOCOL_VERSIONS)
            or content_type != b"application/json"
            or not self._accepts_json(headers.get(b"accept", b""))
        ):
            await self.fallback(scope, receive, send)
            return
        body, receive = await _read(receive, self.max_body)
        if body is None:
            await self.fallback(scope, receive, send)  # the transport answers 413 from the replayed body
            return
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            message = None
        if not (
            isinstance(message, dict)
            and message.get("jsonrpc") == "2.0"
            and message.get("method") in HOT_METHODS
            and "id" in message
            and _valid_id(message["id"])
            and isinstance(message.get("params", {}), dict)
        ):
            await self.fallback(scope, receive, send)
            return
        session_id = headers.get(SESSION_HEADER, b"").decode("latin-1") or None
        transport = None
        if not self.manager.stateless:
            transport = self.manager._server_instances.get(session_id) if session_id else None
            if transport is None or transport.is_terminated:
                await self.fallback(scope, receive, send)  # 400 without a session id, 404 for an unknown one
                return
        request = Request(scope, receive)
        if self.security.settings.enable_dns_rebinding_protection:
            origin = (headers.get(b"host"), headers.get(b"origin"))
            if origin not in self._allowed_origins:
                refused = await self.security.validate_request(request, is_post=True)
                if refused is not None:
                    await refused(scope, receive, send)
                    return
                if len(self._allowed_origins) < MAX_REMEMBERED_ORIGINS:
                    self._allowed_origins.add(origin)
        user: AuthenticatedUser | None = None
        if self.guard is not None:
            conn = request  # a Request is the HTTPConnection the guard reads
            authorization = headers.get(b"authorization")
            header = None if authorization is None else authorization.decode("latin-1")
            identity = self.guard.recent_identity(header, conn)
            if identity is None:
                outcome = await self.guard.authenticate_header(header, conn)
                if isinstance(outcome, Denial):
                    await self.guard.send_denial(outcome, conn, send)
                    return
                if outcome is not None:
                    identity = self.guard.verifier.identity(*outcome)
            if identity is not None:
                caller, user = identity
                denial = self.guard.step_up(caller, message)
                if denial is not None:
                    await self.guard.send_denial(denial, conn, send)
                    return
                # Set on the request's own scope (as Starlette's authentication middleware does), which
                # ``request`` already wraps.
                scope["user"] = user
                scope[CALLER_SCOPE_KEY] = caller
        if transport is not None and session_id is not None:
            requestor = authorization_context(user) if user is not None else None
            if requestor != self.manager._session_owners.get(session_id):
                await self.fallback(scope, receive, send)  # answers 404 exactly as the transport does
                return
        response = await self._serve(message, version or DEFAULT_NEGOTIATED_VERSION, request, user, transport)
        response_headers = list(JSON_HEADERS)
        if session_id is not None and transport is not None:
            response_headers.append((SESSION_HEADER, session_id.encode()))
        response_headers.append((b"content-length", str(len(response)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": response})

    async def _serve(
        self,
        message: dict[str, Any],
        version: str,
        request: Request,
        user: AuthenticatedUser | None,
        transport: Any,
    ) -> bytes:
        """Run one request through the server's own handler and return the JSON-RPC response bytes."""
        request_id = message["id"]
        method: str = message["method"]
        params: Mapping[str, Any] | None = message.get("params")
        reset = auth_context_var.set(user)
        # A request in flight holds a stateful session, exactly as the transport would count it.
        idle_scope = getattr(transport, "idle_scope", None) if transport is not None else None
        if idle_scope is not None:
            transport._requests_in_flight += 1
            idle_scope.deadline = math.inf
        try:
            try:
                if method != "tools/call" or not plain_call_params(version, params):
                    _methods.validate_client_request(method, version, params)
                entry = self.server.get_request_handler(method)
                if entry is None:
                    raise MCPError(code=types.METHOD_NOT_FOUND, message="Method not found", data=method)
                typed = entry.params_type.model_validate({} if params is None else params, by_name=False)
                meta = getattr(typed, "meta", None)
                ctx: ServerRequestContext[Any] = ServerRequestContext(
                    session=None,  # type: ignore[arg-type]  # hot handlers never talk back to the client
                    lifespan_context={},
                    protocol_version=version,
                    method=method,
                    params=params,
                    request_id=request_id,
                    meta=meta,
                    request=request,
                )
                if self.call_tool is not None and isinstance(typed, types.CallToolRequestParams):
                    # Bridgehead's own call: the result's dump, shared with the audit record, and no
                    # models at all for a plain result.
                    dumped = _shaped(method, version, (await self.call_tool(ctx, typed)).dump())
                else:
                    result = await entry.handler(ctx, typed)
                    if isinstance(result, types.ErrorData):
                        raise MCPError.from_error_data(result)
                    dumped = _serialize(method, version, result)
                if method in self.post_process_methods:
                    dumped = await self.post_process(ctx, _returning(dumped))
            except (MCPError, ValidationError) as exc:
                error = handler_exception_to_error_data(exc)
                assert error is not None
                return _error_bytes(request_id, error)
            except Exception as exc:
                # The SDK's dispatcher answers an unexpected handler failure with code 0 and the
                # exception's text; so does this path (tool failures never get here: ToolSurface
                # turns them into tool error results).
                logger.exception("handler for %r raised", method)
                return _error_bytes(request_id, types.ErrorData(code=0, message=str(exc)))
        finally:
            auth_context_var.reset(reset)
            if idle_scope is not None:
                transport._requests_in_flight -= 1
                if not transport._requests_in_flight:
                    idle_scope.deadline = anyio.current_time() + transport._idle_timeout
        return _response_bytes(request_id, dumped)


def _serialize(method: str, version: str, result: Any) -> dict[str, Any]:
    """The wire form of a handler result, as the SDK runner shapes it for handshake-era versions."""
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True) if result is not None else {}
    return _shaped(method, version, dumped)


def _shaped(method: str, version: str, dumped: dict[str, Any]) -> dict[str, Any]:
    """A result's dump shaped to the negotiated version's surface."""
    if method == "tools/call":
        shaped = handshake_call_result(version, dumped)
        if shaped is not None:
            return shaped
    return _methods.serialize_server_result(method, version, dumped)


def _response_bytes(request_id: str | int, result: dict[str, Any]) -> bytes:
    """The JSON-RPC response as the SDK writes it (pydantic's compact JSON), built with orjson.

    For JSON-ready dicts the two encoders give the same bytes (tests/protocol/test_response_bytes.py
    compares them); what orjson refuses (integers past 64 bits) goes through pydantic.
    """
    try:
        return (
            b'{"jsonrpc":"2.0","id":' + orjson.dumps(request_id) + b',"result":' + orjson.dumps(result) + b"}"
        )
    except orjson.JSONEncodeError:
        return (
            types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=result)
            .model_dump_json(by_alias=True, exclude_unset=True)
            .encode()
        )


def _returning(value: dict[str, Any]) -> Any:
    async def call_next(_ctx: Any) -> dict[str, Any]:
        return value

    return call_next


def _error_bytes(request_id: Any, error: types.ErrorData) -> bytes:
    return (
        types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
        .model_dump_json(by_alias=True, exclude_unset=True)
        .encode()
    )


async def _read(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The body (None past ``limit``) and a receive() that replays everything read."""
    chunks: list[bytes] = []
    size = 0
    more = True
    disconnected: Message | None = None
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected = message
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
        if size > limit:
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more and disconnected is None}
        if disconnected is not None:
            return disconnected
        return await receive()

    return (None if size > limit else body), replay
