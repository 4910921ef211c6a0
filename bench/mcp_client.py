"""Just enough of an MCP client, over http.client, to open a session and check a target before loading it.

The load itself comes from wrk (bench/tools_call.lua); these calls happen once per
target, so they favour plain code over speed.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

PROTOCOL_VERSION = "2025-11-25"
REQUEST_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": PROTOCOL_VERSION,
}


def request_prefix(message: dict[str, Any]) -> str:
    """A JSON-RPC request serialized up to (not including) its id value, as tools_call.lua expects."""
    text = orjson.dumps({**message, "id": 0}).decode()
    assert text.endswith(',"id":0}')
    return text[: -len("0}")]


def write_requests(path: Path, queries: Sequence[str]) -> None:
    """One ``tools/call`` of ``search`` per query, in the form tools_call.lua reads."""
    lines = [
        request_prefix(
            {
                "jsonrpc": "2.0",
                "method": "tools/call",
                "params": {"name": "search", "arguments": {"query": q}},
            }
        )
        for q in queries
    ]
    path.write_text("\n".join(lines) + "\n")


def _post(
    base_url: str, headers: Mapping[str, str], body: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", "/mcp", body=orjson.dumps(body), headers=dict(headers))
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _jsonrpc_result(content_type: str, payload: bytes) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or single-event SSE response."""
    if content_type.startswith("text/event-stream"):
        for line in payload.decode().splitlines():
            if line.startswith("data:") and line[5:].strip():
                message = json.loads(line[5:])
                if "result" in message or "error" in message:
                    return dict(message)
        raise AssertionError(f"no JSON-RPC message in the SSE stream: {payload[:300]!r}")
    return dict(json.loads(payload))


def open_session(base_url: str, request_headers: Mapping[str, str] = REQUEST_HEADERS) -> str:
    """Initialize one MCP session (sending ``request_headers``, e.g. a bearer token) and return its Mcp-Session-Id."""
    status, headers, payload = _post(
        base_url,
        request_headers,
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bridgehead-bench", "version": "1"},
            },
        },
    )
    session_id = headers.get("mcp-session-id")
    if status != 200 or not session_id:
        raise RuntimeError(f"initialize failed: {status} {payload[:300]!r}")
    message = _jsonrpc_result(headers.get("content-type", ""), payload)
    if "result" not in message:
        raise RuntimeError(f"initialize failed: {message}")
    status, _, payload = _post(
        base_url,
        {**request_headers, "Mcp-Session-Id": session_id},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    if status != 202:
        raise RuntimeError(f"notifications/initialized got {status}: {payload[:300]!r}")
    return session_id


def _call_tool(
    base_url: str, headers: Mapping[str, str], name: str, arguments: dict[str, Any]
) -> tuple[int, bytes, dict[str, Any]]:
    """One ``tools/call``: the HTTP status, the raw body, and the JSON-RPC result ({} unless a 200 carried one)."""
    status, response_headers, payload = _post(
        base_url,
        headers,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}},
    )
    message = _jsonrpc_result(response_headers.get("content-type", ""), payload) if status == 200 else {}
    result: dict[str, Any] = message.get("result", {})
    return status, payload, result


def check_search(base_url: str, headers: Mapping[str, str], query: str) -> None:
    """Fail loudly unless the target answers a search with results: a fast error is not a fast server."""
    status, payload, result = _call_tool(base_url, headers, "search", {"query": query})
    results = result.get("structuredContent", {}).get("results")
    if not results:
        raise RuntimeError(
            f"search {query!r} at {base_url} did not return results: {status} {payload[:300]!r}"
        )


def write_echo_requests(path: Path, text: str) -> None:
    """One ``tools/call`` of ``echo`` with ``text``, in the form tools_call.lua reads."""
    message = {
        "jsonrpc": "2.0",
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": text}},
    }
    path.write_text(request_prefix(message) + "\n")


def check_echo(base_url: str, headers: Mapping[str, str], text: str) -> None:
    """Fail loudly unless the target answers an echo with exactly ``text`` as its one text content."""
    status, payload, result = _call_tool(base_url, headers, "echo", {"text": text})
    content = result.get("content") or [{}]
    if result.get("isError") or content[0].get("type") != "text" or content[0].get("text") != text:
        raise RuntimeError(f"echo at {base_url} did not answer {text!r}: {status} {payload[:300]!r}")


def check_refused(base_url: str, text: str) -> None:
    """Fail unless an echo without a token gets 401: proof that the target does check tokens."""
    status, _, payload = _post(
        base_url,
        REQUEST_HEADERS,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}},
        },
    )
    if status != 401:
        raise RuntimeError(f"echo at {base_url} without a token got {status}, not 401: {payload[:300]!r}")
