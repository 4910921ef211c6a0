"""Deliberately broken MCP servers for the doctor's tests, each with one fault ChatGPT users meet.

A server here is healthy unless a fault is switched on: the SDK's low-level MCP server with a
ChatGPT-shaped ``search``/``fetch`` pair and one write tool, on Bridgehead's own transports
(Streamable HTTP at /mcp, legacy SSE at /sse), guarded by bearer tokens from an in-memory
OAuth 2.1 authorization server that approves every request at once, so the doctor's headless
flow runs to the end. Healthy means everything ChatGPT needs: RFC 9728 and RFC 8414 metadata,
dynamic registration and client ID metadata documents, PKCE, ``iss`` on every redirect back,
tokens bound to the resource, default scopes for a request without scope, 404 for an unknown
session, and every tool hint set. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx
import mcp_types as types
import orjson
import uvicorn
from mcp.server import Server, ServerRequestContext
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridgehead.config import load_settings
from bridgehead.protocol.http import MCPTransports
from tests.conftest import free_port, wait_until_started
from tests.doctor.certificates import TlsFiles

SCOPES = ["notes:read", "notes:write", "offline_access"]
DEFAULT_SCOPE = "notes:read notes:write offline_access"
TOKEN_KEY = "broken_server.token"
"""Where the guard leaves the caller's token grant in the ASGI scope, for the tools of a mixed server."""
DOCUMENTS = {
    "doc-travel": {
        "id": "doc-travel",
        "title": "Travel policy",
        "text": "Book travel through the portal at least two weeks ahead; economy class under six hours.",
        "url": "https://docs.example.com/policies/travel",
        "metadata": {"folder": "policies"},
    },
    "doc-leave": {
        "id": "doc-leave",
        "title": "Parental leave",
        "text": "Parents get sixteen weeks of paid leave, to be taken within the child's first year.",
        "url": "https://docs.example.com/policies/parental-leave",
        "metadata": {"folder": "policies"},
    },
}


@dataclass(frozen=True)
class Faults:
    """What is wrong with a test server; all off is a server the doctor finds nothing wrong with."""

    oauth: bool = True
    """Guard the MCP endpoints with bearer tokens (off: an open server)."""
    mixed: bool = False
    """Mixed authentication: initialize and tools/list open; search and fetch need a token and answer
    without one with a tool error carrying ``_meta["mcp/www_authenticate"]``."""
    scoped_tools: bool = False
    """The 401 asks for notes:read only, and calling create_note needs notes:write (a step-up)."""
    # -- discovery and registration
    no_prm: bool = False
    """No Protected Resource Metadata (the 401 still points at where it should be)."""
    no_offline_access: bool = False
    """The authorization server does not advertise offline_access (it still issues refresh tokens)."""
    post_only: bool = False
    """The token endpoint only accepts client_secret_post (and none), and registers every client for it."""
    expiring_secret: bool = False
    """Registered client secrets expire in an hour (client_secret_expires_at)."""
    bot_rule: bool = False
    """A firewall rule answers 403 to registrations that do not come from a browser."""
    # -- the authorization response (issue 9's bad input)
    no_state: bool = False
    wrong_state: bool = False
    wrong_iss: bool = False
    """iss has a trailing slash the metadata's issuer lacks."""
    no_iss: bool = False
    """No iss, although the metadata advertises authorization_response_iss_parameter_supported."""
    iss_not_advertised: bool = False
    """No iss, and authorization_response_iss_parameter_supported not advertised either."""
    error_redirect: bool = False
    """Every authorization ends in error=access_denied."""
    http_redirect: bool = False
    """The authorization endpoint sends the browser on to a plain-HTTP sign-in host."""
    code_elsewhere: bool = False
    """The code goes to another path on the client's origin than its registered redirect URI."""
    # -- ChatGPT's linking
    no_cimd: bool = False
    """Client ID metadata documents are not supported."""
    cimd_without_none: bool = False
    """Metadata documents advertised, but the token endpoint offers no method such clients can use."""
    cimd_rejects_documents: bool = False
    """Metadata documents advertised, but every URL client_id is refused."""
    cimd_accepts_anything: bool = False
    """Any URL is taken as a client_id, without fetching a document."""
    legacy_redirect_refused: bool = False
    """Registration refuses ChatGPT's https://chatgpt.com/connector_platform_oauth_redirect."""
    callback_refused: bool = False
    """Registration refuses ChatGPT's https://chatgpt.com/connector/oauth/{callback_id} redirect URI."""
    empty_scope_invalid: bool = False
    """An authorization request without scope (or with an empty one) gets invalid_scope."""
    unbound_audience: bool = False
    """The resource parameter is ignored and the MCP endpoint accepts any token this server issued."""
    no_refresh_tokens: bool = False
    """No refresh token is ever issued."""
    futile_step_up: bool = False
    """With scoped_tools: create_note answers insufficient_scope naming a scope the token already has."""
    # -- the MCP endpoint
    slash_redirect: bool = False
    """/mcp/ answers 307 to /mcp."""
    session_400: bool = False
    """A request with an unknown Mcp-Session-Id gets 400 instead of 404."""
    sse_only: bool = False
    """Only the legacy HTTP+SSE transport, no Streamable HTTP."""
    # -- the tool surface
    bad_input_schema: bool = False
    """One tool's inputSchema is not valid JSON Schema."""
    draft07_schema: bool = False
    """One tool's inputSchema is valid draft-07 with an array-form items, which ChatGPT rejects."""
    missing_hints: bool = False
    """create_note leaves openWorldHint unset."""
    wrong_search_shape: bool = False
    """search answers with a bare list instead of {"results": [...]}."""
    bad_security_schemes: bool = False
    """A tool's _meta.securitySchemes uses a scheme type ChatGPT does not know."""
    bad_www_authenticate: bool = False
    """With mixed: the tool result's challenge has no error or error_description."""
    read_only_write_tool: bool = False
    """create_note claims readOnlyHint true."""


# -- the MCP server -------------------------------------------------------------------------------


def tool_list(faults: Faults) -> list[types.Tool]:
    read_only = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
    reading = {"securitySchemes": [{"type": "oauth2", "scopes": ["notes:read"]}]} if faults.oauth else None
    writing = {"securitySchemes": [{"type": "oauth2", "scopes": ["notes:write"]}]} if faults.oauth else None
    if faults.bad_security_schemes:
        writing = {"securitySchemes": [{"type": "oauth"}]}
    tools = [
        types.Tool(
            name="search",
            title="Search the handbook",
            description="Search the company handbook; returns matching documents as ids, titles and URLs.",
            input_schema={
                "type": "object",
                "properties": {"query": {"type": "string", "description": "Words to look for."}},
                "required": ["query"],
            },
            annotations=read_only,
            _meta=reading,
        ),
        types.Tool(
            name="fetch",
            title="Read a handbook page",
            description="Fetch the full text of one handbook document by the id search returned.",
            input_schema={
                "type": "object",
                "properties": {"id": {"type": "string", "description": "A document id from search."}},
                "required": ["id"],
            },
            annotations=read_only,
            _meta=reading,
        ),
        types.Tool(
            name="create_note",
            title="Create a note",
            description="Create a note in the team notebook with the given title and body.",
            input_schema={
                "type": "object",
                "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
                "required": ["title", "body"],
            },
            annotations=types.ToolAnnotations(
                read_only_hint=faults.read_only_write_tool,
                destructive_hint=False,
                open_world_hint=None if faults.missing_hints else False,
            ),
            _meta=writing,
        ),
    ]
    if faults.bad_input_schema:
        tools.append(
            types.Tool(
                name="lookup_employee",
                description="Look up an employee in the company directory by their full name.",
                input_schema={
                    "type": "object",
                    "properties": {"name": {"type": "strng"}},
                    "required": ["name"],
                },
                annotations=read_only,
            )
        )
    if faults.draft07_schema:
        tools.append(
            types.Tool(
                name="lookup_order",
                description="Look up an order by its region and number, e.g. ['eu', 1042].",
                input_schema={
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {
                        "order": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}
                    },
                    "required": ["order"],
                },
                annotations=read_only,
            )
        )
    return tools


def mcp_server(faults: Faults) -> Server[Any]:
    tools = tool_list(faults)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments = params.arguments or {}
        if faults.mixed and params.name in ("search", "fetch", "create_note") and not caller_token(ctx):
            return sign_in_result(ctx, faults)
        if params.name == "search":
            results = [{k: d[k] for k in ("id", "title", "url")} for d in DOCUMENTS.values()]
            payload: Any = results if faults.wrong_search_shape else {"results": results}
            return text_result(payload, structured=None if faults.wrong_search_shape else payload)
        if params.name == "fetch":
            document = DOCUMENTS.get(str(arguments.get("id")))
            if document is None:
                return types.CallToolResult(
                    content=[types.TextContent(type="text", text="unknown id")], is_error=True
                )
            return text_result(document, structured=document)
        if params.name == "create_note":
            return text_result({"created": True}, structured=None)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="unknown tool")], is_error=True
        )

    return Server("broken-test-server", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


def caller_token(ctx: ServerRequestContext[Any]) -> Any:
    request = ctx.request
    return request.scope.get(TOKEN_KEY) if isinstance(request, Request) else None


def sign_in_result(ctx: ServerRequestContext[Any], faults: Faults) -> types.CallToolResult:
    """The tool error of a mixed server for a caller without a token: the challenge ChatGPT links from."""
    request = ctx.request
    base = origin_of(request) if isinstance(request, Request) else "http://127.0.0.1"
    challenge = f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
    if not faults.bad_www_authenticate:
        challenge += ', error="invalid_token", error_description="Sign in to search the handbook"'
    return types.CallToolResult(
        content=[types.TextContent(type="text", text="Sign in to use this tool.")],
        is_error=True,
        _meta={"mcp/www_authenticate": [challenge]},
    )


def text_result(payload: Any, structured: dict[str, Any] | None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=orjson.dumps(payload).decode())],
        structured_content=structured,
    )


# -- the authorization server ---------------------------------------------------------------------


def origin_of(conn: HTTPConnection) -> str:
    return f"{conn.url.scheme}://{conn.url.netloc}"


def resource_path(faults: Faults) -> str:
    """The MCP endpoint's path: the protected resource."""
    return "/sse" if faults.sse_only else "/mcp"


def page(status: int, text: str) -> HTMLResponse:
    """An error shown to the user: the client or its redirect URI cannot be trusted."""
    return HTMLResponse(f"<!doctype html><title>Error</title><p>{text}</p>", status_code=status)


@dataclass
class Grant:
    client_id: str
    scope: str
    resource: str


@dataclass
class AutoApprovingAuthServer:
    """An in-memory OAuth 2.1 authorization server that approves every request without a login."""

    faults: Faults
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/.well-known/oauth-authorization-server", self.server_metadata),
            Route("/.well-known/openid-configuration", self.server_metadata),
            Route("/register", self.register, methods=["POST"]),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ]
        if not self.faults.no_prm:
            routes += [
                Route(
                    f"/.well-known/oauth-protected-resource{resource_path(self.faults)}",
                    self.resource_metadata,
                ),
                Route("/.well-known/oauth-protected-resource", self.resource_metadata),
            ]
        return routes

    def resource(self, conn: HTTPConnection) -> str:
        return origin_of(conn) + resource_path(self.faults)

    async def resource_metadata(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "resource": self.resource(request),
                "authorization_servers": [origin_of(request)],
                "scopes_supported": SCOPES,
                "bearer_methods_supported": ["header"],
            }
        )

    async def server_metadata(self, request: Request) -> JSONResponse:
        base = origin_of(request)
        faults = self.faults
        methods = ["client_secret_basic", "client_secret_post", "none"]
        if faults.post_only:
            methods = ["client_secret_post", "none"]
        if faults.cimd_without_none:
            methods = ["client_secret_basic", "client_secret_post"]
        metadata: dict[str, Any] = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "registration_endpoint": f"{base}/register",
            "scopes_supported": [s for s in SCOPES if s != "offline_access" or not faults.no_offline_access],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": methods,
            "code_challenge_methods_supported": ["S256"],
        }
        if not faults.iss_not_advertised:
            metadata["authorization_response_iss_parameter_supported"] = True
        if not faults.no_cimd:
            metadata["client_id_metadata_document_supported"] = True
        return JSONResponse(metadata)

    async def register(self, request: Request) -> Response:
        body = await request.json()
        uris = body.get("redirect_uris") or []
        refused = ("/connector/oauth/",) if self.faults.callback_refused else ()
        if self.faults.legacy_redirect_refused:
            refused += ("/connector_platform_oauth_redirect",)
        if any(part in str(u) for u in uris for part in refused):
            return JSONResponse(
                {"error": "invalid_redirect_uri", "error_description": "redirect URI not allowed"}, 400
            )
        method = body.get("token_endpoint_auth_method", "client_secret_basic")
        if self.faults.post_only and method != "none":
            method = "client_secret_post"
        client_id = secrets.token_urlsafe(12)
        secret = None if method == "none" else secrets.token_urlsafe(24)
        self.clients[client_id] = {"secret": secret, "method": method, "redirect_uris": uris}
        registered = {**body, "client_id": client_id, "token_endpoint_auth_method": method}
        if secret:
            expires = int(time.time()) + 3600 if self.faults.expiring_secret else 0
            registered |= {"client_secret": secret, "client_secret_expires_at": expires}
        return JSONResponse(registered, status_code=201)

    async def client(self, client_id: str) -> dict[str, Any] | str:
        """A registered client, or one a metadata document describes; else why not (shown on a page)."""
        faults = self.faults
        if not client_id.startswith(("https://", "http://")) or faults.no_cimd:
            return self.clients.get(client_id) or "unknown client"
        if faults.cimd_rejects_documents:
            return "unknown client"
        if faults.cimd_accepts_anything:
            return {"secret": None, "method": "none", "redirect_uris": None}
        if client_id in self.clients:
            return self.clients[client_id]
        parts = urlsplit(client_id)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname == "127.0.0.1"):
            return "a client ID metadata document must be served over HTTPS"
        try:
            async with httpx.AsyncClient(timeout=3, follow_redirects=False) as http:
                response = await http.get(client_id)
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            document = None
        if not isinstance(document, dict) or document.get("client_id") != client_id:
            return "the client ID metadata document could not be used"
        client = {
            "secret": None,
            "method": "none",
            "redirect_uris": list(document.get("redirect_uris") or []),
        }
        self.clients[client_id] = client
        return client

    async def authorize(self, request: Request) -> Response:
        faults = self.faults
        query = request.query_params
        client = await self.client(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if isinstance(client, str):
            return page(400, client)
        if client["redirect_uris"] is not None and redirect_uri not in client["redirect_uris"]:
            return page(400, "the redirect URI is not registered for this client")
        issuer = origin_of(request)
        state = query.get("state")

        def back(answer: dict[str, str]) -> RedirectResponse:
            if state is not None and not faults.no_state:
                answer["state"] = "not-" + state if faults.wrong_state else state
            if not (faults.no_iss or faults.iss_not_advertised):
                answer["iss"] = issuer + "/" if faults.wrong_iss else issuer
            return RedirectResponse(redirect_uri + "?" + urlencode(answer), 302)

        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return back({"error": "invalid_request", "error_description": "PKCE S256 is required"})
        scope = query.get("scope")
        if not scope:
            if faults.empty_scope_invalid:
                return back({"error": "invalid_scope", "error_description": "scope is required"})
            scope = DEFAULT_SCOPE
        resource = query.get("resource") or self.resource(request)
        if resource != self.resource(request) and not faults.unbound_audience:
            return back({"error": "invalid_target", "error_description": "unknown resource"})
        if faults.error_redirect:
            return back({"error": "access_denied", "error_description": "the user cancelled"})
        if faults.http_redirect:
            return RedirectResponse(
                "http://sso.example.com/login?" + urlencode({"next": str(request.url)}), 302
            )
        code = secrets.token_urlsafe(16)
        if faults.code_elsewhere:
            parts = urlsplit(redirect_uri)
            return RedirectResponse(f"{parts.scheme}://{parts.netloc}/elsewhere?code={code}", 302)
        self.codes[code] = {
            "client_id": query["client_id"],
            "redirect_uri": redirect_uri,
            "challenge": query["code_challenge"],
            "scope": scope,
            "resource": resource,
        }
        return back({"code": code})

    async def token(self, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id = await self.authenticate(request, form)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        asked = form.get("resource")
        if form.get("grant_type") == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if (
                code is None
                or code["client_id"] != client_id
                or code["redirect_uri"] != form.get("redirect_uri")
                or code["challenge"] != digest
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            grant = Grant(client_id, code["scope"], code["resource"])
        elif form.get("grant_type") == "refresh_token":
            found = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if found is None or found.client_id != client_id:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            grant = found
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if asked is not None and asked != grant.resource:
            if not self.faults.unbound_audience:
                return JSONResponse({"error": "invalid_target"}, status_code=400)
            grant = Grant(grant.client_id, grant.scope, asked)
        return JSONResponse(self.issue(grant))

    async def authenticate(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            client_id, given, method = unquote(client_id), unquote(secret), "client_secret_basic"
        elif "client_secret" in form:
            client_id, given, method = form.get("client_id", ""), form["client_secret"], "client_secret_post"
        else:
            client_id, given, method = form.get("client_id", ""), "", "none"
        client = await self.client(client_id)
        if isinstance(client, str) or client["method"] != method or (client["secret"] or "") != given:
            return None
        return client_id

    def issue(self, grant: Grant) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = grant
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": grant.scope,
        }
        if not self.faults.no_refresh_tokens:
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = grant
            body["refresh_token"] = refresh
        return body

    def guard(self, app: ASGIApp) -> ASGIApp:
        """Wrap an MCP endpoint: bearer tokens this server issued for it, else 401 with the RFC 9728 challenge."""
        return BearerGuard(app, self)


class BearerGuard:
    """An ASGI wrapper (a class, so Starlette's Route passes scope, receive and send) checking tokens."""

    def __init__(self, app: ASGIApp, server: AutoApprovingAuthServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        faults = self.server.faults
        metadata = f"{origin_of(conn)}/.well-known/oauth-protected-resource{resource_path(faults)}"
        header = conn.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        grant = self.server.access_tokens.get(token or "")
        if grant is not None and grant.resource != self.server.resource(conn) and not faults.unbound_audience:
            grant = None
        if grant is None and not (faults.mixed and token is None):
            challenge = f'Bearer resource_metadata="{metadata}"'
            if faults.scoped_tools:
                challenge += ', scope="notes:read"'
            response = JSONResponse(
                {"error": "invalid_token"}, status_code=401, headers={"www-authenticate": challenge}
            )
            await response(scope, receive, send)
            return
        if grant is not None and faults.scoped_tools and conn.scope["method"] == "POST":
            body, receive = await buffered(receive)
            needed = needed_scope(body, faults)
            if needed and (faults.futile_step_up or needed not in grant.scope.split()):
                named = "notes:read" if faults.futile_step_up else needed
                challenge = (
                    f'Bearer error="insufficient_scope", scope="{named}", resource_metadata="{metadata}", '
                    'error_description="creating notes needs notes:write"'
                )
                response = JSONResponse(
                    {"error": "insufficient_scope"}, status_code=403, headers={"www-authenticate": challenge}
                )
                await response(scope, receive, send)
                return
        scope[TOKEN_KEY] = grant
        await self.app(scope, receive, send)


async def buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read a request's whole body, and a receive that hands it over again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def needed_scope(body: bytes, faults: Faults) -> str | None:
    """The extra scope a JSON-RPC request needs: notes:write for create_note."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    params = message.get("params")
    return "notes:write" if isinstance(params, dict) and params.get("name") == "create_note" else None


class SessionGate:
    """Answers a request whose Mcp-Session-Id this server never issued with 400 (the fault: the
    transport says 404)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.issued: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = HTTPConnection(scope).headers.get("mcp-session-id")
        if session is not None and session not in self.issued:
            await JSONResponse({"error": "Bad Request: No valid session ID provided"}, 400)(
                scope, receive, send
            )
            return

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"mcp-session-id":
                        self.issued.add(value.decode())
            await send(message)

        await self.app(scope, receive, remember)


class BotRule:
    """A web application firewall rule: 403 for registrations from anything but a browser."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/register":
            agent = HTTPConnection(scope).headers.get("user-agent", "")
            if not agent.startswith("Mozilla/"):
                await page(403, "Attention required: please enable cookies.")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def broken_app(faults: Faults) -> ASGIApp:
    """A test MCP server with the given faults."""
    settings = load_settings(None, {"mcp": {"legacy_sse": True}}, environ={})
    transports = MCPTransports(mcp_server(faults), settings)
    auth = AutoApprovingAuthServer(faults)
    front: Callable[[ASGIApp], ASGIApp] | None = SessionGate if faults.session_400 else None
    routes = transports.routes(auth.guard if faults.oauth else None, front=front)
    if faults.sse_only:
        routes = [r for r in routes if not getattr(r, "path", "").startswith("/mcp")]
    if faults.slash_redirect:
        routes.insert(
            0, Route("/mcp/", lambda request: RedirectResponse("/mcp", 307), methods=["GET", "POST"])
        )
    if faults.oauth:
        routes = auth.routes() + routes

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with transports.run():
            yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.auth = auth
    return BotRule(app) if faults.bot_rule else app


def document_app(document: Callable[[str], dict[str, Any]]) -> Starlette:
    """Serves a client ID metadata document at /client.json (built for its own URL)."""

    async def serve_document(request: Request) -> JSONResponse:
        return JSONResponse(document(str(request.url)))

    return Starlette(routes=[Route("/client.json", serve_document)])


# -- serving ------------------------------------------------------------------------------------


@contextmanager
def serve(config: uvicorn.Config) -> Iterator[None]:
    """Run a uvicorn config in a background thread until the block ends."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_started(server, thread)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def serve_app(app_for_port: Callable[[int], ASGIApp], tls: TlsFiles | None = None) -> Iterator[str]:
    """Serve the app built for a free port on 127.0.0.1 (over TLS with ``tls``); yields its origin."""
    port = free_port()
    config = uvicorn.Config(
        app_for_port(port),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        ssl_certfile=str(tls.certificate) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        timeout_graceful_shutdown=2,
    )
    with serve(config):
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
