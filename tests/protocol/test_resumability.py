"""Resumability through the SDK's EventStore interface: a dropped SSE stream is replayed on reconnect."""

from __future__ import annotations

import json

import httpx
import pytest

from bridgehead.protocol.event_store import MemoryEventStore
from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body, parse_sse, rpc


def test_reconnect_with_last_event_id_replays_the_missed_response(sample_server: RunningServer) -> None:
    with httpx.Client(base_url=sample_server.base_url, timeout=10) as http:
        # 2025-11-25 streams start with a priming event, so a client always holds an event id to resume from.
        opened = http.post("/mcp", headers=HEADERS, json=initialize_body("2025-11-25"))
        session = {
            **HEADERS,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        http.post("/mcp", headers=session, json=rpc("notifications/initialized", request_id=None))
        call = rpc("tools/call", {"name": "search", "arguments": {"query": "parental leave"}}, request_id=41)
        events = parse_sse(http.post("/mcp", headers=session, json=call).text)
        ids = [e["id"] for e in events if "id" in e]
        answered = [e for e in events if e.get("data", "").startswith("{")]
        assert len(ids) >= 2 and answered, events
        # Pretend the stream dropped right after its priming event: reconnect from there.
        with http.stream(
            "GET", "/mcp", headers={**session, "accept": "text/event-stream", "last-event-id": ids[0]}
        ) as replay:
            assert replay.status_code == 200
            body = ""
            for chunk in replay.iter_text():
                body += chunk
                if '"id":41' in body:
                    break
        replayed = [json.loads(e["data"]) for e in parse_sse(body) if e.get("data", "").startswith("{")]
        assert any(message.get("id") == 41 and "result" in message for message in replayed)


@pytest.mark.parametrize("bad_id", ["", "nonsense", "stream:abc", "unknown-stream:5"])
async def test_replay_of_unknown_event_ids_is_empty(bad_id: str) -> None:
    store = MemoryEventStore(max_events_per_stream=3)
    sent: list[object] = []

    async def collect(message: object) -> None:
        sent.append(message)

    assert await store.replay_events_after(bad_id, collect) is None
    assert sent == []


async def test_event_store_keeps_only_the_newest_events_per_stream() -> None:
    from mcp_types import JSONRPCNotification

    store = MemoryEventStore(max_events_per_stream=3)
    ids = [
        await store.store_event("s1", JSONRPCNotification(jsonrpc="2.0", method=f"n{i}", params=None))
        for i in range(6)
    ]
    seen: list[str] = []

    async def collect(message: object) -> None:
        seen.append(message.message.method)  # type: ignore[attr-defined]

    assert await store.replay_events_after(ids[0], collect) == "s1"
    assert seen == ["n3", "n4", "n5"]


async def test_a_long_stream_keeps_its_newest_events_past_the_small_stream_size() -> None:
    from mcp_types import JSONRPCNotification

    from bridgehead.protocol.event_store import SMALL_STREAM

    store = MemoryEventStore(max_events_per_stream=SMALL_STREAM * 2)
    ids = [
        await store.store_event("s1", JSONRPCNotification(jsonrpc="2.0", method=f"n{i}", params=None))
        for i in range(SMALL_STREAM * 3)
    ]
    seen: list[str] = []

    async def collect(message: object) -> None:
        seen.append(message.message.method)  # type: ignore[attr-defined]

    assert await store.replay_events_after(ids[0], collect) == "s1"
    assert seen == [f"n{i}" for i in range(SMALL_STREAM, SMALL_STREAM * 3)]
    seen.clear()
    assert await store.replay_events_after(ids[-3], collect) == "s1"
    assert seen == [f"n{i}" for i in range(SMALL_STREAM * 3 - 2, SMALL_STREAM * 3)]
