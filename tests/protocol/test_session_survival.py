"""Sessions survive a restart: the session id ChatGPT holds keeps working on the restarted server
(and on any worker or replica sharing the store), while unknown, deleted and foreign ids get 404."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.protocol.conftest import HEADERS, initialize_body, parse_sse, rpc
from tests.test_serve_process import bridgehead_process


def _result(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        messages = [
            json.loads(e["data"]) for e in parse_sse(response.text) if e.get("data", "").startswith("{")
        ]
        message: dict[str, object] = messages[-1]
    else:
        message = response.json()
    assert "result" in message, message
    return message


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
def test_a_session_outlives_a_restart(tmp_path: Path, json_response: bool) -> None:
    port = free_port()
    env = {"BRIDGEHEAD_MCP__JSON_RESPONSE": str(json_response).lower()}
    call = rpc("tools/call", {"name": "search", "arguments": {"query": "parental leave"}}, request_id=5)
    with bridgehead_process(tmp_path, env=env, port=port) as base:
        opened = httpx.post(base + "/mcp", headers=HEADERS, json=initialize_body("2025-06-18"))
        session = {
            **HEADERS,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        assert (
            httpx.post(
                base + "/mcp", headers=session, json=rpc("notifications/initialized", request_id=None)
            ).status_code
            == 202
        )
        _result(httpx.post(base + "/mcp", headers=session, json=call))
    with bridgehead_process(tmp_path, env=env, port=port) as base:
        # Same session id, new process: answered as if nothing happened.
        again = _result(httpx.post(base + "/mcp", headers=session, json=call))
        assert again["id"] == 5
        listed = _result(httpx.post(base + "/mcp", headers=session, json=rpc("tools/list", request_id=6)))
        assert listed["result"]["tools"]  # type: ignore[index]
        # A made-up id is still unknown.
        unknown = httpx.post(base + "/mcp", headers={**session, "mcp-session-id": "f" * 32}, json=call)
        assert unknown.status_code == 404
        # The client ends the session: it is gone for good, across restarts too.
        assert httpx.delete(base + "/mcp", headers=session).status_code == 200
    with bridgehead_process(tmp_path, env=env, port=port) as base:
        assert httpx.post(base + "/mcp", headers=session, json=call).status_code == 404


def test_an_expired_session_is_not_reopened(tmp_path: Path) -> None:
    port = free_port()
    env = {"BRIDGEHEAD_MCP__JSON_RESPONSE": "true", "BRIDGEHEAD_MCP__SESSION_IDLE_TIMEOUT": "1"}
    with bridgehead_process(tmp_path, env=env, port=port) as base:
        opened = httpx.post(base + "/mcp", headers=HEADERS, json=initialize_body("2025-06-18"))
        session = {
            **HEADERS,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
    import time

    time.sleep(1.5)
    with bridgehead_process(tmp_path, env=env, port=port) as base:
        assert httpx.post(base + "/mcp", headers=session, json=rpc("tools/list")).status_code == 404
