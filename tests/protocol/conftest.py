"""Helpers for raw HTTP tests of the MCP endpoint."""

from __future__ import annotations

from typing import Any

import httpx

ACCEPT_BOTH = "application/json, text/event-stream"
HEADERS = {"accept": ACCEPT_BOTH, "content-type": "application/json"}


def initialize_body(version: str = "2025-06-18", request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "bridgehead-tests", "version": "1"},
        },
    }


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 2) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        body["id"] = request_id
    if params is not None:
        body["params"] = params
    return body


def parse_sse(text: str) -> list[dict[str, str]]:
    """Split an SSE body into events ({'id', 'event', 'data'})."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event: dict[str, str] = {}
        for line in block.split("\n"):
            if ":" in line and not line.startswith(":"):
                key, _, value = line.partition(":")
                event[key] = event.get(key, "") + value.lstrip(" ") if key != "data" else value.lstrip(" ")
        if event:
            events.append(event)
    return events


def open_session(client: httpx.Client, version: str = "2025-06-18") -> dict[str, str]:
    """Initialize a session on a JSON-response server and return the headers to reuse it."""
    response = client.post("/mcp", headers=HEADERS, json=initialize_body(version))
    assert response.status_code == 200, response.text
    session_headers = {**HEADERS, "mcp-protocol-version": version}
    if "mcp-session-id" in response.headers:
        session_headers["mcp-session-id"] = response.headers["mcp-session-id"]
    notified = client.post(
        "/mcp", headers=session_headers, json=rpc("notifications/initialized", request_id=None)
    )
    assert notified.status_code == 202, notified.text
    return session_headers


import pytest  # noqa: E402

from tests.conftest import make_settings, serve_in_thread  # noqa: E402


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A default server answering POSTs with plain JSON, for raw HTTP assertions."""
    settings = make_settings(tmp_path_factory.mktemp("json"), mcp={"json_response": True})
    with serve_in_thread(settings) as running:
        yield running
