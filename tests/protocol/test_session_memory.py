"""Idle sessions leave memory and come back on their next request; the client cannot tell.

A stateful session idle for ``mcp.session_memory_idle_seconds`` is ended in
memory (the SDK's own idle path: server task and transport gone) but stays
valid in the store until ``mcp.session_idle_timeout``; its next request
re-opens it with what was negotiated at initialize. These tests run with
sub-second warm periods and a timeout of a second or two.
"""

from __future__ import annotations

import gc
import inspect
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from bridgehead.protocol.middleware import ConnectedSessions
from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body, parse_sse, rpc

WARM = 0.3  # seconds an idle session stays in memory
TIMEOUT = 1.5  # seconds of idleness after which a session ends
SEARCH = rpc("tools/call", {"name": "search", "arguments": {"query": "parental leave"}}, request_id=3)


def _message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response of a JSON or SSE answer."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        found = [json.loads(e["data"]) for e in parse_sse(response.text) if e.get("data", "").startswith("{")]
        message: dict[str, Any] = found[-1]
    else:
        message = response.json()
    assert "result" in message, message
    return message


def _held(server: RunningServer) -> dict[str, Any]:
    """The sessions the process holds in memory (the SDK manager's table)."""
    held: dict[str, Any] = server.app.state.transports.streamable._server_instances
    return held


def _stored(server: RunningServer, session_id: str) -> bool:
    """Whether the store still has a row for the session (read with plain sqlite3)."""
    database = server.settings.server.data_dir / "bridgehead.db"
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT 1 FROM mcp_sessions WHERE id = ?", (session_id,)).fetchone()
    return row is not None


def _wait_until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _open(http: httpx.Client, version: str = "2025-11-25") -> dict[str, str]:
    opened = http.post("/mcp", headers=HEADERS, json=initialize_body(version))
    assert _message(opened)["result"]["protocolVersion"] == version
    session = {**HEADERS, "mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": version}
    assert (
        http.post("/mcp", headers=session, json=rpc("notifications/initialized", request_id=None)).status_code
        == 202
    )
    return session


@pytest.fixture
def short_lived(server_factory: Callable[..., RunningServer]) -> Callable[..., RunningServer]:
    """A server whose sessions leave memory after WARM seconds and end after TIMEOUT seconds."""

    def start(**mcp: Any) -> RunningServer:
        settings = {"session_memory_idle_seconds": WARM, "session_idle_timeout": TIMEOUT, **mcp}
        return server_factory(mcp=settings)

    return start


def _negotiated(server: RunningServer, session_id: str) -> tuple[str, str]:
    """The protocol version and client name the session's live connection works with."""
    sessions = next(
        m for m in server.app.state.transports.server.middleware if isinstance(m, ConnectedSessions)
    )
    connection = next(c for c in list(sessions._connections) if c.session_id == session_id)
    return connection.protocol_version, connection.client_params.client_info.name


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
def test_an_idle_session_leaves_memory_and_comes_back_unchanged(
    short_lived: Callable[..., RunningServer], json_response: bool
) -> None:
    server = short_lived(json_response=json_response)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http, "2025-03-26")  # not the newest: the re-opened session must keep it
        session_id = session["mcp-session-id"]
        listed = _message(http.post("/mcp", headers=session, json=rpc("tools/list")))["result"]
        assert listed["tools"]
        if not json_response:  # JSON answers to tools/list skip the SDK's per-session machinery
            assert _negotiated(server, session_id) == ("2025-03-26", "bridgehead-tests")

        _wait_until(lambda: session_id not in _held(server))
        assert _stored(server, session_id), "leaving memory must not end the session"

        again = http.post("/mcp", headers=session, json=rpc("tools/list"))
        assert _message(again)["result"] == listed
        assert again.headers["mcp-session-id"] == session_id
        assert session_id in _held(server)
        if not json_response:
            assert _negotiated(server, session_id) == ("2025-03-26", "bridgehead-tests")
        found = _message(http.post("/mcp", headers=session, json=SEARCH))
        assert found["id"] == 3 and found["result"]["structuredContent"]["results"]


def test_a_session_that_left_memory_leaves_nothing_behind(short_lived: Callable[..., RunningServer]) -> None:
    """Its connection, and all the connection held, is freed (it was once kept alive by the very
    table that announces tool changes, a weak-keyed table whose values referred to their keys)."""
    server = short_lived()
    sessions = next(
        m for m in server.app.state.transports.server.middleware if isinstance(m, ConnectedSessions)
    )
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http)
        session_id = session["mcp-session-id"]
        _message(http.post("/mcp", headers=session, json=rpc("tools/list")))
        assert any(c.session_id == session_id for c in list(sessions._connections))
        _wait_until(lambda: session_id not in _held(server))
        time.sleep(0.1)  # the server task's last steps after it left the table
        gc.collect()
        assert not any(c.session_id == session_id for c in list(sessions._connections))


def test_a_session_keeps_working_across_many_warm_periods(short_lived: Callable[..., RunningServer]) -> None:
    """Requests spaced around the warm period, also right as the session leaves memory, all succeed."""
    server = short_lived(json_response=True)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        sessions = [_open(http) for _ in range(4)]
        errors: list[str] = []

        def client(session: dict[str, str], offset: float) -> None:
            with httpx.Client(base_url=server.base_url, timeout=10) as own:
                for step in range(6):
                    time.sleep(WARM * (0.8 + 0.1 * step) + offset)
                    response = own.post("/mcp", headers=session, json=rpc("tools/list", request_id=step))
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text}")

        threads = [threading.Thread(target=client, args=(s, i * 0.01)) for i, s in enumerate(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []


def test_a_session_going_idle_while_its_request_is_admitted_still_answers(
    short_lived: Callable[..., RunningServer],
) -> None:
    """The idle period runs out while the request waits on the store: it is re-opened, not ended."""
    server = short_lived()  # SSE answers: every request goes through the session manager
    registry = server.app.state.transports.streamable.registry
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http)
        touch = registry.touch

        async def slow_touch(session_id: str, at: float | None = None) -> None:
            await anyio.sleep(WARM * 1.5)
            await touch(session_id, at)

        registry.touch = slow_touch
        try:
            time.sleep(WARM / 2)
            _message(http.post("/mcp", headers=session, json=rpc("tools/list")))
        finally:
            registry.touch = touch


def test_an_evicted_session_still_expires_at_the_idle_timeout(
    short_lived: Callable[..., RunningServer],
) -> None:
    server = short_lived(json_response=True)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http)
        session_id = session["mcp-session-id"]
        opened = time.monotonic()

        def sleep_until(moment: float) -> None:
            time.sleep(max(0.0, moment - time.monotonic()))

        _wait_until(lambda: session_id not in _held(server))
        sleep_until(opened + TIMEOUT * 0.6)
        assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200
        active = time.monotonic()
        # Activity after leaving memory counts: past the timeout since initialize, not since then.
        _wait_until(lambda: session_id not in _held(server))
        sleep_until(opened + TIMEOUT + 0.2)
        assert active + TIMEOUT > time.monotonic(), "too slow a machine for this test's timings"
        assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200
        active = time.monotonic()
        _wait_until(lambda: session_id not in _held(server))
        assert _stored(server, session_id)
        sleep_until(active + TIMEOUT + 0.2)
        assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 404
        assert session_id not in _held(server)
        # Expired rows are also deleted from the store (pruned every idle timeout, at most 300 s).
        _wait_until(lambda: not _stored(server, session_id), seconds=TIMEOUT + 2)


@contextmanager
def _get_stream(server: RunningServer, session: dict[str, str]) -> Iterator[None]:
    """Hold the session's standalone GET SSE stream open for the block."""
    opened = threading.Event()
    stop = threading.Event()

    def hold() -> None:
        headers = {**session, "accept": "text/event-stream"}
        with (
            httpx.Client(base_url=server.base_url, timeout=10) as http,
            http.stream("GET", "/mcp", headers=headers) as response,
        ):
            assert response.status_code == 200
            opened.set()
            stop.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert opened.wait(10), "the GET stream did not open"
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def test_an_open_get_stream_keeps_its_session_valid(short_lived: Callable[..., RunningServer]) -> None:
    """The stream holds none of the session's SDK objects, so the session leaves memory like an idle
    one; but it does not expire while the stream is open, and its next request re-opens it."""
    server = short_lived()
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http)
        session_id = session["mcp-session-id"]
        with _get_stream(server, session):
            assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200
            _wait_until(lambda: session_id not in _held(server))
            time.sleep(TIMEOUT + WARM)  # longer than the session could stay idle
            assert _stored(server, session_id)
            assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200
        # Closing the stream starts the idle period, which is what the store remembers.
        _wait_until(lambda: session_id not in _held(server))
        assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200


def test_fast_path_requests_keep_the_stored_session_alive(short_lived: Callable[..., RunningServer]) -> None:
    """JSON tools/list calls are answered without the SDK transport; they still count as activity."""
    server = short_lived(json_response=True)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http)
        session_id = session["mcp-session-id"]
        busy_until = time.monotonic() + TIMEOUT + WARM
        while time.monotonic() < busy_until:
            assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200
            time.sleep(WARM / 3)
        _wait_until(lambda: session_id not in _held(server))
        assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200


@pytest.mark.parametrize("in_memory", [True, False], ids=["in-memory", "evicted"])
def test_delete_ends_the_session_for_good(short_lived: Callable[..., RunningServer], in_memory: bool) -> None:
    server = short_lived(json_response=True)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        session = _open(http)
        session_id = session["mcp-session-id"]
        if not in_memory:
            _wait_until(lambda: session_id not in _held(server))
        assert http.delete("/mcp", headers=session).status_code == 200
        assert not _stored(server, session_id)
        assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 404
        assert session_id not in _held(server)


def test_the_sdk_internals_this_relies_on_are_there() -> None:
    """Pinned SDK (mcp==2.3.0): SessionScopedManager overrides ``_discard_session`` (so a transport
    ending late never drops the re-opened one) and reads the transport's ``idle_scope``."""
    parameters = list(inspect.signature(StreamableHTTPSessionManager._discard_session).parameters)
    assert parameters == ["self", "session_id", "transport"]
    transport = StreamableHTTPServerTransport(mcp_session_id="x", idle_timeout=1.0)
    assert transport.idle_scope is None  # created when connect() is entered
