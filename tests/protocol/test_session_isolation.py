"""Resumption stays inside its session: one client cannot replay another client's stream.

The SDK names a stream after the JSON-RPC request id, so every session has a
stream "1", "2"… and a "_GET_stream". Found while running the conformance
suite's server-sse-polling scenario: with one shared event store, a second
session that sent ``Last-Event-ID: 7:0`` received the first session's result.
"""

from __future__ import annotations

import httpx
from mcp_types import JSONRPCNotification

from bridgehead.protocol.event_store import MemoryEventStore
from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body, rpc


async def test_session_views_share_limits_but_not_streams() -> None:
    store = MemoryEventStore()
    alice, bob = store.for_session("alice"), store.for_session("bob")
    first = await alice.store_event("1", JSONRPCNotification(jsonrpc="2.0", method="for-alice", params=None))
    await alice.store_event("1", JSONRPCNotification(jsonrpc="2.0", method="also-for-alice", params=None))
    replayed: list[object] = []

    async def collect(message: object) -> None:
        replayed.append(message)

    assert await bob.replay_events_after(first, collect) is None
    assert await bob.replay_events_after("1:0", collect) is None
    assert replayed == []
    assert await alice.replay_events_after(first, collect) == "1"
    assert len(replayed) == 1


def _open_session(http: httpx.Client) -> dict[str, str]:
    opened = http.post("/mcp", headers=HEADERS, json=initialize_body("2025-11-25"))
    assert opened.status_code == 200, opened.text
    session = {
        **HEADERS,
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": "2025-11-25",
    }
    http.post("/mcp", headers=session, json=rpc("notifications/initialized", request_id=None))
    return session


def test_a_session_cannot_replay_another_sessions_stream(sample_server: RunningServer) -> None:
    with httpx.Client(base_url=sample_server.base_url, timeout=10) as http:
        alice = _open_session(http)
        call = rpc("tools/call", {"name": "search", "arguments": {"query": "parental leave"}}, request_id=7)
        answered = http.post("/mcp", headers=alice, json=call)
        assert "parental-leave.md" in answered.text

        bob = _open_session(http)
        body = ""
        try:
            with http.stream(
                "GET",
                "/mcp",
                headers={**bob, "accept": "text/event-stream", "last-event-id": "7:0"},
                timeout=3,
            ) as replay:
                for chunk in replay.iter_text():
                    body += chunk
        except httpx.ReadTimeout:
            pass
        assert "parental-leave.md" not in body
        assert '"id":7' not in body
