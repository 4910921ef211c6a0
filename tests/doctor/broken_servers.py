"""Deliberately broken MCP servers for the doctor's tests, each with one fault ChatGPT users meet.

A server here is healthy unless a fault is switched on: the SDK's low-level MCP server with a
ChatGPT-shaped ``search``/``fetch`` pair and one write tool, on Bridgehead's own transports
(Streamable HTTP at /mcp, legacy SSE at /sse), guarded by bearer tokens from an in-memory
OAuth 2.1 authorization server that approves every request at once, so the doctor's headless
flow runs to the end. Everything listens on 127.0.0.1 only.
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
from urllib.parse import unquote, urlencode

import mcp_types as types
import orjson
import uvicorn
from mcp.server import Server, ServerRequestContext
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridgehead.config import load_settings
from bridgehead.protocol.http import MCPTransports
from tests.conftest import free_port
from tests.doctor.certificates import TlsFiles

SCOPES = ["notes:read", "notes:write", "offline_access"]
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
    no_prm: bool = False
    """No Protected Resource Metadata (the 401 still points at where it should be)."""
    no_offline_access: bool = False
    """The authorization server does not advertise offline_access (it still issues refresh tokens)."""
    post_only: bool = False
    """The token endpoint only accepts client_secret_post, and registers every client for it."""
    no_refresh_tokens: bool = False
    """No refresh token is ever issued."""
    bad_input_schema: bool = False
    """One tool's inputSchema is not valid JSON Schema."""
    wrong_search_shape: bool = False
    """search answers with a bare list instead of {"results": [...]}."""
    sse_only: bool = False
    """Only the legacy HTTP+SSE transport, no Streamable HTTP."""
    bad_security_schemes: bool = False
    """A tool's _meta.securitySchemes uses a scheme type ChatGPT does not know."""
    read_only_write_tool: bool = False
    """create_note claims readOnlyHint true."""


# -- the MCP server -------------------------------------------------------------------------------


def tool_list(faults: Faults) -> list[types.Tool]:
    read_only = types.ToolAnnotations(read_only_hint=True, destructive_hint=False)
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
                read_only_hint=faults.read_only_write_tool, destructive_hint=False
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


@dataclass
class AutoApprovingAuthServer:
    """An in-memory OAuth 2.1 authorization server that approves every request without a login."""

    faults: Faults
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    async def resource_metadata(self, request: Request) -> JSONResponse:
        base = origin_of(request)
        return JSONResponse(
            {
                "resource": base + resource_path(self.faults),
                "authorization_servers": [base],
                "scopes_supported": SCOPES,
                "bearer_methods_supported": ["header"],
            }
        )

    async def server_metadata(self, request: Request) -> JSONResponse:
        base = origin_of(request)
        methods = (
            ["client_secret_post"] if self.faults.post_only else ["client_secret_basic", "client_secret_post"]
        )
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "registration_endpoint": f"{base}/register",
                "scopes_supported": [
                    s for s in SCOPES if s != "offline_access" or not self.faults.no_offline_access
                ],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_methods_supported": methods,
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def register(self, request: Request) -> JSONResponse:
        body = await request.json()
        method = "client_secret_post" if self.faults.post_only else body.get("token_endpoint_auth_method")
        client_id, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
        self.clients[client_id] = {"secret": secret, "method": method, "redirect_uris": body["redirect_uris"]}
        registered = {
            **body,
            "client_id": client_id,
            "client_secret": secret,
            "client_secret_expires_at": 0,
            "token_endpoint_auth_method": method,
        }
        return JSONResponse(registered, status_code=201)

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        client = self.clients.get(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri", "")
        if client is None or redirect_uri not in client["redirect_uris"]:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return RedirectResponse(redirect_uri + "?" + urlencode({"error": "invalid_request"}), 302)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": query["client_id"],
            "redirect_uri": redirect_uri,
            "challenge": query["code_challenge"],
            "scope": query.get("scope", "notes:read"),
        }
        answer = {"code": code, "state": query.get("state", ""), "iss": origin_of(request)}
        return RedirectResponse(redirect_uri + "?" + urlencode(answer), 302)

    async def token(self, request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id = self.authenticate(request, form)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if (
                grant is None
                or grant["client_id"] != client_id
                or grant["redirect_uri"] != form.get("redirect_uri")
                or grant["challenge"] != digest
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(self.issue(client_id, grant["scope"]))
        if form.get("grant_type") == "refresh_token":
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None or grant["client_id"] != client_id:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(self.issue(client_id, grant["scope"]))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def authenticate(self, request: Request, form: dict[str, str]) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            client_id, secret, method = unquote(client_id), unquote(secret), "client_secret_basic"
        else:
            client_id, secret, method = (
                form.get("client_id", ""),
                form.get("client_secret", ""),
                "client_secret_post",
            )
        client = self.clients.get(client_id)
        if client is None or client["method"] != method or client["secret"] != secret:
            return None
        return client_id

    def issue(self, client_id: str, scope: str) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self.access_tokens.add(access)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": scope,
        }
        if not self.faults.no_refresh_tokens:
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = {"client_id": client_id, "scope": scope}
            body["refresh_token"] = refresh
        return body

    def guard(self, app: ASGIApp) -> ASGIApp:
        """Wrap an MCP endpoint: bearer tokens this server issued, else 401 with the RFC 9728 challenge."""
        return BearerGuard(app, self.access_tokens, resource_path(self.faults))


class BearerGuard:
    """An ASGI wrapper (a class, so Starlette's Route passes scope, receive and send) checking tokens."""

    def __init__(self, app: ASGIApp, tokens: set[str], resource: str) -> None:
        self.app = app
        self.tokens = tokens
        self.resource = resource

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        token = conn.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token not in self.tokens:
            metadata = f"{origin_of(conn)}/.well-known/oauth-protected-resource{self.resource}"
            challenge = f'Bearer resource_metadata="{metadata}"'
            response = JSONResponse(
                {"error": "invalid_token"}, status_code=401, headers={"www-authenticate": challenge}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def broken_app(faults: Faults) -> Starlette:
    """A test MCP server with the given faults."""
    settings = load_settings(None, {"mcp": {"legacy_sse": True}}, environ={})
    transports = MCPTransports(mcp_server(faults), settings)
    auth = AutoApprovingAuthServer(faults)
    routes = transports.routes(auth.guard if faults.oauth else None)
    if faults.sse_only:
        routes = [r for r in routes if not getattr(r, "path", "").startswith("/mcp")]
    if faults.oauth:
        routes = auth.routes() + routes

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with transports.run():
            yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.auth = auth
    return app


# -- serving ------------------------------------------------------------------------------------


@contextmanager
def serve(config: uvicorn.Config) -> Iterator[None]:
    """Run a uvicorn config in a background thread until the block ends."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
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
