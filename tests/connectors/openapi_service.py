"""A small ticket tracker on 127.0.0.1 for the openapi connector's tests.

It serves its own OpenAPI 3.1 document (/openapi.json) and a 3.0 variant in YAML
(/openapi-3.0.yaml), issues OAuth client-credentials tokens (/oauth/token), and
has endpoints that need an API key, HTTP basic or a bearer token, that fail,
stall, send too much, or redirect to the cloud metadata address. Every request
is counted by ``METHOD /path`` so tests can see how often the connector called.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.conftest import free_port

API_KEY = "tracker-api-key-5d1f0c9e"
BASIC_USER = "auditor"
BASIC_PASSWORD = "audit-pass-93e1b7"
CLIENT_ID = "bridgehead"
CLIENT_SECRET = "client-secret-7a2b44"
SLOW_SECONDS = 3.0
HUGE_ITEMS = 12_000  # about 600 KB of JSON


@dataclass
class TrackerState:
    """What the tracker holds and what it has seen."""

    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    hits: Counter[str] = field(default_factory=Counter)
    tokens: dict[str, float] = field(default_factory=dict)
    token_lifetime: int = 3600

    def reset(self) -> None:
        self.tickets.clear()
        self.next_id = 1
        self.hits.clear()
        self.tokens.clear()
        self.token_lifetime = 3600


def _ticket_schema_31() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "title", "status"],
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": ["string", "null"]},
            "status": {"$ref": "#/components/schemas/Status"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
            "tags": {"type": "array", "items": {"type": "string"}},
            "subtasks": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
        },
        "additionalProperties": False,
    }


def _op(op_id: str, summary: str, *, tags: list[str], **rest: Any) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": tags,
        "responses": {"200": {"description": "OK"}},
        **rest,
    }


TICKET_ID = {
    "name": "ticket_id",
    "in": "path",
    "required": True,
    "description": "The ticket's number.",
    "schema": {"type": "integer", "minimum": 1},
}
TICKET_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}},
}


def openapi_31(base_url: str) -> dict[str, Any]:
    """The tracker's own OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ticket Tracker", "version": "1.0"},
        "servers": [{"url": base_url}],
        "components": {
            "schemas": {
                "Status": {"type": "string", "enum": ["open", "closed"], "x-internal": "yes"},
                "Ticket": _ticket_schema_31(),
            },
            "parameters": {"TicketId": TICKET_ID},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "paths": {
            "/tickets": {
                "get": _op(
                    "listTickets",
                    "List tickets",
                    tags=["tickets"],
                    description="Tickets, newest first, optionally filtered.",
                    parameters=[
                        {"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/Status"}},
                        {
                            "name": "tag",
                            "in": "query",
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        },
                        {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                        {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                    ],
                ),
                "post": _op("createTicket", "Create a ticket", tags=["tickets"], requestBody=TICKET_BODY),
            },
            "/tickets/search": {
                "post": _op(
                    "searchTickets",
                    "Search tickets",
                    tags=["tickets"],
                    requestBody={
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["query"],
                                    "properties": {"query": {"type": "string"}},
                                }
                            }
                        },
                    },
                )
            },
            "/tickets/{ticket_id}": {
                "parameters": [{"$ref": "#/components/parameters/TicketId"}],
                "get": _op("getTicket", "Get a ticket", tags=["tickets"]),
                "put": _op("replaceTicket", "Replace a ticket", tags=["tickets"], requestBody=TICKET_BODY),
                "patch": _op(
                    "updateTicket",
                    "Update a ticket",
                    tags=["tickets"],
                    requestBody={
                        "content": {
                            "application/merge-patch+json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "status": {"$ref": "#/components/schemas/Status"},
                                        "title": {"type": "string"},
                                    },
                                }
                            }
                        }
                    },
                ),
                "delete": _op("deleteTicket", "Delete a ticket", tags=["tickets"]),
            },
            "/legacy/tickets": {"get": _op("legacyTickets", "Old ticket list (redirects)", tags=["tickets"])},
            "/reports": {
                "get": _op(
                    "listReports",
                    "Reports (API key)",
                    tags=["admin"],
                    parameters=[{"name": "X-API-Key", "in": "header", "schema": {"type": "string"}}],
                )
            },
            "/audit": {"get": _op("getAuditLog", "Audit log (HTTP basic)", tags=["admin"])},
            "/metrics": {"get": _op("getMetrics", "Metrics (OAuth)", tags=["admin"])},
            "/echo": {"get": _op("echoHeaders", "Echo the request headers", tags=["debug"])},
            "/boom": {"get": _op("explode", "Always fails", tags=["debug"])},
            "/unavailable": {
                "get": _op("checkStatus", "Always 503", tags=["debug"]),
                "post": _op("submitJob", "Always 503", tags=["debug"]),
            },
            "/slow": {"get": _op("slowReport", "Answers too late", tags=["debug"])},
            "/export": {"get": _op("exportEverything", "A very large body", tags=["debug"])},
            "/metadata": {"get": _op("fetchMetadata", "Redirects to the metadata service", tags=["debug"])},
            "/health": {"get": {"summary": "Health check", "responses": {"200": {"description": "OK"}}}},
        },
    }


OPENAPI_30_YAML = """\
openapi: 3.0.3
info:
  title: Ticket Tracker (3.0)
  version: 1.0.0
servers:
  - url: "{scheme}://127.0.0.1:{port}"
    variables:
      scheme: {default: http}
      port: {default: "PORT"}
paths:
  /tickets:
    get:
      operationId: listTickets
      summary: List tickets
      tags: [tickets]
      parameters:
        - name: status
          in: query
          schema: {$ref: '#/components/schemas/Status'}
        - name: since
          in: query
          example: 2024-01-31
          schema: {type: string, format: date}
      responses:
        '200': {description: OK}
    post:
      operationId: createTicket
      summary: Create a ticket
      tags: [tickets]
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/NewTicket'}
      responses:
        '201': {description: Created}
  /tickets/{ticket_id}:
    get:
      operationId: getTicket
      summary: Get a ticket
      tags: [tickets]
      parameters:
        - {name: ticket_id, in: path, required: true, schema: {type: integer}}
      responses:
        '200': {description: OK}
    delete:
      operationId: deleteTicket
      tags: [tickets]
      parameters:
        - {name: ticket_id, in: path, required: true, schema: {type: integer}}
      responses:
        '204': {description: Deleted}
components:
  schemas:
    Status:
      type: string
      enum: [open, closed]
    Comment:
      type: object
      properties:
        text: {type: string, example: Looks good}
        replies:
          type: array
          items: {$ref: '#/components/schemas/Comment'}
    NewTicket:
      type: object
      required: [title]
      discriminator: {propertyName: kind}
      properties:
        id: {type: integer, readOnly: true}
        title: {type: string, example: Printer on fire}
        description: {type: string, nullable: true}
        assignee:
          nullable: true
          allOf: [{$ref: '#/components/schemas/Person'}]
        estimate_hours: {type: number, minimum: 0, exclusiveMinimum: true, maximum: 80}
        status:
          $ref: '#/components/schemas/Status'
        comments:
          type: array
          items: {$ref: '#/components/schemas/Comment'}
        x-audit: {type: string}
    Person:
      type: object
      properties:
        name: {type: string}
"""


def openapi_30_yaml(port: int) -> str:
    return OPENAPI_30_YAML.replace('"PORT"', f'"{port}"')


class _CountRequests:
    def __init__(self, app: ASGIApp, state: TrackerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.state.hits[f"{scope['method']} {scope['path']}"] += 1
        await self.app(scope, receive, send)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def build_app(state: TrackerState, port: int) -> ASGIApp:
    """The tracker as an ASGI app that answers on ``port``."""
    base_url = f"http://127.0.0.1:{port}"

    async def spec_31(request: Request) -> Response:
        return JSONResponse(openapi_31(base_url))

    async def spec_30(request: Request) -> Response:
        return Response(openapi_30_yaml(port), media_type="application/yaml")

    async def tickets(request: Request) -> Response:
        if request.method == "POST":
            data = await request.json()
            if not isinstance(data, dict) or not data.get("title"):
                return JSONResponse({"error": "title is required"}, status_code=422)
            ticket = {"status": "open", "priority": 3, "tags": [], **data, "id": state.next_id}
            state.tickets[state.next_id] = ticket
            state.next_id += 1
            return JSONResponse(ticket, status_code=201, headers={"location": f"/tickets/{ticket['id']}"})
        found = sorted(state.tickets.values(), key=lambda t: -int(t["id"]))
        if "status" in request.query_params:
            found = [t for t in found if t["status"] == request.query_params["status"]]
        wanted_tags = request.query_params.getlist("tag")
        if wanted_tags:
            found = [t for t in found if set(wanted_tags) <= set(t.get("tags", []))]
        limit = int(request.query_params.get("limit", "20"))
        headers = {"x-total-count": str(len(found))}
        if "x-request-id" in request.headers:
            headers["x-request-id"] = request.headers["x-request-id"]
        body = {"tickets": found[:limit], "accept": request.headers.get("accept")}
        return JSONResponse(body, headers=headers)

    async def search(request: Request) -> Response:
        query = (await request.json())["query"].lower()
        return JSONResponse({"tickets": [t for t in state.tickets.values() if query in t["title"].lower()]})

    async def ticket(request: Request) -> Response:
        ticket_id = int(request.path_params["ticket_id"])
        if ticket_id not in state.tickets:
            return JSONResponse({"error": "not_found", "detail": f"no ticket {ticket_id}"}, status_code=404)
        if request.method == "DELETE":
            del state.tickets[ticket_id]
            return Response(status_code=204)
        if request.method == "PUT":
            state.tickets[ticket_id] = {**(await request.json()), "id": ticket_id}
        elif request.method == "PATCH":
            if request.headers.get("content-type") != "application/merge-patch+json":
                return JSONResponse({"error": "unsupported media type"}, status_code=415)
            state.tickets[ticket_id].update(await request.json())
        return JSONResponse(state.tickets[ticket_id])

    async def legacy(request: Request) -> Response:
        return RedirectResponse("/tickets?limit=1", status_code=302)

    async def reports(request: Request) -> Response:
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"error": "invalid API key"}, status_code=401)
        return JSONResponse({"reports": ["weekly", "monthly"]})

    async def audit(request: Request) -> Response:
        if _basic_credentials(request) != (BASIC_USER, BASIC_PASSWORD):
            return Response(
                "who are you?", status_code=401, headers={"www-authenticate": 'Basic realm="audit"'}
            )
        return JSONResponse({"entries": [{"who": "alice", "what": "closed #1"}]})

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        credentials = _basic_credentials(request)
        if credentials is not None:
            client = (unquote_plus(credentials[0]), unquote_plus(credentials[1]))
        else:
            client = (form.get("client_id", ""), form.get("client_secret", ""))
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = secrets.token_urlsafe(24)
        state.tokens[issued] = time.monotonic() + state.token_lifetime
        return JSONResponse(
            {
                "access_token": issued,
                "token_type": "Bearer",
                "expires_in": state.token_lifetime,
                "scope": form.get("scope", ""),
            },
            headers={"cache-control": "no-store"},
        )

    async def metrics(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        issued = header[7:] if header.startswith("Bearer ") else ""
        if state.tokens.get(issued, 0) < time.monotonic():
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"requests_per_minute": 42})

    async def echo(request: Request) -> Response:
        return JSONResponse({"headers": dict(request.headers)})

    async def boom(request: Request) -> Response:
        return JSONResponse({"error": "database on fire", "trace": "x" * 5000}, status_code=500)

    async def unavailable(request: Request) -> Response:
        return JSONResponse({"error": "try later"}, status_code=503)

    async def slow(request: Request) -> Response:
        deadline = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.05)
        return JSONResponse({"finally": True})

    async def export(request: Request) -> Response:
        items = [{"id": i, "title": f"Ticket number {i}", "status": "open"} for i in range(HUGE_ITEMS)]
        return Response(orjson.dumps({"items": items}), media_type="application/json")

    async def metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/iam/", status_code=302)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/openapi.json", spec_31),
        Route("/openapi-3.0.yaml", spec_30),
        Route("/tickets", tickets, methods=["GET", "POST"]),
        Route("/tickets/search", search, methods=["POST"]),
        Route("/tickets/{ticket_id:int}", ticket, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route("/legacy/tickets", legacy),
        Route("/reports", reports),
        Route("/audit", audit),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/echo", echo),
        Route("/boom", boom),
        Route("/unavailable", unavailable, methods=["GET", "POST"]),
        Route("/slow", slow),
        Route("/export", export),
        Route("/metadata", metadata),
        Route("/health", health),
    ]
    return _CountRequests(Starlette(routes=routes), state)


@dataclass
class Tracker:
    """The running tracker."""

    state: TrackerState
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def spec_url(self) -> str:
        return f"{self.base_url}/openapi.json"

    @property
    def spec_30_url(self) -> str:
        return f"{self.base_url}/openapi-3.0.yaml"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"


@contextmanager
def run_tracker() -> Iterator[Tracker]:
    """Serve the tracker with uvicorn in a background thread until the block ends."""
    state = TrackerState()
    port = free_port()
    config = uvicorn.Config(
        build_app(state, port),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the tracker did not start")
        time.sleep(0.02)
    try:
        yield Tracker(state, port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
