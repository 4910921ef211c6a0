"""The MCP server object: the SDK's low-level Server wired to Bridgehead's tool surface and policy."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server import InitializationOptions, NotificationOptions, Server, ServerRequestContext
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.shared.exceptions import MCPError
from starlette.requests import Request

from bridgehead import __version__
from bridgehead.audit import AuditEvent, AuditLog
from bridgehead.audit.log import AuditError
from bridgehead.config import Settings
from bridgehead.connectors.base import CallContext
from bridgehead.policy import Caller, PolicyEngine
from bridgehead.policy.decision import Decision
from bridgehead.protocol.forwarded import base_url_from_scope
from bridgehead.protocol.middleware import ConnectedSessions, security_schemes_on_tools
from bridgehead.protocol.tools import ToolSurface, plain_result_dump, tool_result

DEFAULT_INSTRUCTIONS = (
    "Bridgehead gives you access to this company's internal documents and systems. "
    "Use `search` to find documents, then `fetch` to read one in full before answering; cite the document URL."
)
RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
# Where the fast path leaves the Caller it already built from the verified token.
CALLER_SCOPE_KEY = "bridgehead.caller"


@dataclass(slots=True)
class CallOutcome:
    """A tools/call's result: its model, or (where the fast path asked for none and the result is plain)
    only its JSON-mode dump, which the audit record and the response share."""

    model: types.CallToolResult | None
    dumped: dict[str, Any] | None = None

    def dump(self) -> dict[str, Any]:
        """The result as ``model_dump(by_alias=True, mode="json", exclude_none=True)`` gives it, made once."""
        if self.dumped is None:
            assert self.model is not None
            self.dumped = self.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self.dumped


CallTool = Callable[[ServerRequestContext[Any], types.CallToolRequestParams], Awaitable[CallOutcome]]


def current_caller(ctx: ServerRequestContext[Any]) -> Caller:
    """Who sent this request: from the HTTP request's authenticated user, else the auth context."""
    from bridgehead.auth.resource import caller_from_access_token

    request = ctx.request
    if isinstance(request, Request):
        known = request.scope.get(CALLER_SCOPE_KEY)
        if isinstance(known, Caller):
            return known
        user = request.scope.get("user")
        if isinstance(user, AuthenticatedUser):
            return caller_from_access_token(user.access_token)
    return caller_from_access_token(get_access_token())


def denial_result(decision: Decision, tool_name: str, resource_metadata: str) -> types.CallToolResult:
    """A tool error result; when signing in (or more scope) would help, it carries the OAuth challenge
    in ``_meta["mcp/www_authenticate"]`` so ChatGPT starts the linking flow."""
    text = f"Not allowed to call {tool_name!r}: {decision.reason}."
    meta: dict[str, Any] | None = None
    if decision.needs_login or decision.missing_scopes:
        error = "invalid_token" if decision.needs_login else "insufficient_scope"
        description = (
            "Sign in to use this tool"
            if decision.needs_login
            else f"This tool needs scope {' '.join(decision.missing_scopes)}"
        )
        challenge = f'Bearer resource_metadata="{resource_metadata}", error="{error}", error_description="{description}"'
        if decision.missing_scopes:
            challenge += f', scope="{" ".join(decision.missing_scopes)}"'
        meta = {"mcp/www_authenticate": [challenge]}
        text = f"{description}."
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], is_error=True, _meta=meta
    )


def _transport(request: Request | None) -> str | None:
    if request is None:
        return None
    return "sse" if request.scope["path"].startswith("/messages") else "streamable-http"


def _session_id(request: Request | None) -> str | None:
    """The request's Mcp-Session-Id (first occurrence, as Starlette reads it), without building its Headers."""
    if request is None:
        return None
    for name, value in request.scope["headers"]:
        if name == b"mcp-session-id":  # ASGI header names are lower case (Starlette compares them so too)
            return str(value.decode("latin-1"))
    return None


class AnnouncingServer(Server[Any]):
    """The SDK server, advertising ``tools.listChanged``: Bridgehead announces tool-surface changes.

    ``call_tool`` runs a tools/call for the fast path, which needs the result's wire form, not its model.
    """

    call_tool: CallTool | None = None

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


def build_mcp_server(
    settings: Settings,
    surface: Callable[[], ToolSurface],
    policy: PolicyEngine,
    audit: AuditLog,
    sessions: ConnectedSessions,
) -> AnnouncingServer:
    """A low-level SDK server whose tools come from ``surface()`` at each request (so reloads apply).

    Every tools/call, allowed or denied, is committed to the audit log before its response is sent.
    """

    def base_url(ctx: ServerRequestContext[Any]) -> str:
        request = ctx.request
        if isinstance(request, Request):
            return base_url_from_scope(request.scope, settings.server.public_base_url)
        if settings.server.public_base_url:
            return settings.server.public_base_url
        return f"http://{settings.server.host}:{settings.server.port}"

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = surface()
        if policy.mode == "none":
            return types.ListToolsResult(tools=tools.listing)
        caller = current_caller(ctx)
        return types.ListToolsResult(
            tools=[tools.listed(t.name) for t in tools.tools if policy.visible(caller, t)]
        )

    async def execute(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, *, model: bool
    ) -> CallOutcome:
        """Decide, run and audit one tools/call. Without ``model``, a plain result comes back as its
        dump alone (the fast path serialises that; building the models would cost more than the call)."""
        started = time.perf_counter()
        caller = current_caller(ctx) if policy.mode != "none" else Caller.anonymous()
        request = ctx.request if isinstance(ctx.request, Request) else None

        async def audit_call(result: Any, is_error: bool, decision: str, reason: str) -> None:
            if not audit.enabled:
                return
            await audit.record(
                AuditEvent(
                    at=time.time(),
                    tool=params.name,
                    arguments=params.arguments,
                    result=result.dump() if isinstance(result, CallOutcome) else result,
                    is_error=is_error,
                    decision=decision,
                    reason=reason,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    user_id=caller.user_id,
                    username=caller.username,
                    client_id=caller.client_id,
                    transport=_transport(request),
                    session_id=_session_id(request),
                    request_id=str(ctx.request_id) if ctx.request_id is not None else None,
                )
            )

        tools = surface()
        tool = tools.get(params.name)
        if tool is None:
            await audit_call(None, True, "invalid", f"unknown tool {params.name!r}")
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name!r}")
        reason = "auth mode none"
        if policy.mode != "none":
            decision = policy.decide(caller, tool)
            if not decision.allowed:
                denied = CallOutcome(
                    denial_result(decision, tool.name, base_url(ctx) + RESOURCE_METADATA_PATH)
                )
                await audit_call(denied, True, "denied", decision.reason)
                return denied
            reason = decision.reason
        try:
            output = await tools.run(
                params.name, params.arguments, CallContext(resolve=lambda: base_url(ctx))
            )
        except MCPError as exc:
            await audit_call({"error": exc.error.model_dump(mode="json")}, True, "invalid", exc.error.message)
            raise
        dumped = None if model else plain_result_dump(output)
        outcome = CallOutcome(None, dumped) if dumped is not None else CallOutcome(tool_result(output))
        try:
            await audit_call(outcome, bool(output.is_error), "allowed", reason)
        except AuditError as exc:
            # Fail closed: a call that could not be recorded is not reported as a success.
            raise MCPError(
                types.INTERNAL_ERROR, "The call ran but could not be audited; contact an administrator."
            ) from exc
        return outcome

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        outcome = await execute(ctx, params, model=True)
        assert outcome.model is not None
        return outcome.model

    async def call_tool_for_wire(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> CallOutcome:
        return await execute(ctx, params, model=False)

    server = AnnouncingServer(
        settings.mcp.server_name,
        version=__version__,
        title=settings.mcp.server_name,
        instructions=settings.mcp.instructions or DEFAULT_INSTRUCTIONS,
        website_url=settings.server.public_base_url,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    server.middleware += [sessions, security_schemes_on_tools]
    server.call_tool = call_tool_for_wire
    return server
