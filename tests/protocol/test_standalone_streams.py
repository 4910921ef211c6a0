"""Bridgehead's own standalone GET streams answer as the SDK's did, deliver what the SDK delivered, and
cost nothing once closed.

Each comparison runs the same requests against two real servers: the default one, where
``protocol/standalone_streams.py`` serves GET /mcp, and one whose session manager has no
``streams``, so the SDK's transport serves it as before. Statuses, headers and bytes must be
the same (the session id and the event sequence numbers aside), for sessions in memory and for
sessions that have left it.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import re
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
import uvicorn
from mcp import Client
from mcp.server.streamable_http import GET_STREAM_KEY, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from bridgehead.app import create_app
from bridgehead.cli.serve_cmd import uvicorn_config
from bridgehead.config import Settings
from bridgehead.protocol import standalone_streams
from bridgehead.protocol.middleware import ConnectedSessions
from bridgehead.protocol.standalone_streams import OpenStream, StandaloneStreams, TransportSink
from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import obtain_tokens
from tests.conftest import RunningServer, free_port, make_settings, wait_until_started
from tests.protocol.conftest import HEADERS, initialize_body, rpc
from tests.protocol.raw_http import RawResponse, request
from tests.protocol.test_surface_changes import ListChanged, _config, _pid_of, two_folders
from tests.test_serve_process import bridgehead_process

WARM = 0.3  # seconds an idle session stays in memory on the "evicted" servers
VERSION = "2025-11-25"
TOOLS_CHANGED = b'data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'


@dataclass
class LoopServer:
    """A running server and its event loop, so a test can run coroutines (announcements) on it."""

    running: RunningServer
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def manager(self) -> Any:
        return self.running.app.state.transports.streamable

    @property
    def streams(self) -> StandaloneStreams:
        streams: StandaloneStreams = self.running.app.state.transports.streams
        return streams

    @property
    def sessions(self) -> ConnectedSessions:
        return next(m for m in self.manager.app.middleware if isinstance(m, ConnectedSessions))

    def call(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def held(self, session_id: str) -> bool:
        return session_id in self.manager._server_instances


@contextmanager
def serve_with_loop(settings: Settings, *, sdk_streams: bool = False) -> Iterator[LoopServer]:
    """Like tests.conftest.serve_in_thread, on a loop this test can reach; ``sdk_streams``: the SDK serves GET."""
    port = free_port()
    app = create_app(settings)
    if sdk_streams:
        app.state.transports.streamable.streams = None
    config = uvicorn_config(app, settings, port=port)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    wait_until_started(server, thread)
    try:
        yield LoopServer(RunningServer(settings, port, app), loop)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _open_session(server: LoopServer | RunningServer, headers: dict[str, str] | None = None) -> str:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        opened = http.post("/mcp", headers={**HEADERS, **(headers or {})}, json=initialize_body(VERSION))
        assert opened.status_code == 200, opened.text
        session_id = opened.headers["mcp-session-id"]
        session = {
            **HEADERS,
            **(headers or {}),
            "mcp-session-id": session_id,
            "mcp-protocol-version": VERSION,
        }
        initialized = http.post(
            "/mcp", headers=session, json=rpc("notifications/initialized", request_id=None)
        )
        assert initialized.status_code == 202
    return session_id


def _get(server: LoopServer | RunningServer, session_id: str | None, **headers: str | None) -> RawResponse:
    """GET /mcp with the usual stream headers, changed or removed (None) by ``headers``."""
    sent = {"Accept": "text/event-stream", "MCP-Protocol-Version": VERSION}
    if session_id is not None:
        sent["Mcp-Session-Id"] = session_id
    for name, value in headers.items():
        key = name.replace("_", "-")
        sent = {k: v for k, v in sent.items() if k.lower() != key.lower()}
        if value is not None:
            sent[key] = value
    return request(server.port, "GET", sent)


def _wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _normalized(data: bytes) -> bytes:
    """Event ids carry a process-wide sequence number; compare them without it."""
    return re.sub(rb"(id: [^\r\n:]*):\d+", rb"\1:<n>", data)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[LoopServer, LoopServer]]]:
    """Bridgehead's streams and the SDK's, with sessions that stay in memory and with sessions that leave it."""
    tmp = tmp_path_factory.mktemp("streams")
    evicted = {"session_memory_idle_seconds": WARM}
    with (
        serve_with_loop(make_settings(tmp / "ours")) as ours,
        serve_with_loop(make_settings(tmp / "sdk"), sdk_streams=True) as sdk,
        serve_with_loop(make_settings(tmp / "ours-evicted", mcp=evicted)) as ours_evicted,
        serve_with_loop(make_settings(tmp / "sdk-evicted", mcp=evicted), sdk_streams=True) as sdk_evicted,
    ):
        yield {"in-memory": (ours, sdk), "evicted": (ours_evicted, sdk_evicted)}


def _ready_session(server: LoopServer, state: str) -> str:
    session_id = _open_session(server)
    if state == "evicted":
        _wait_until(lambda: not server.held(session_id))
    return session_id


def _case_second_stream(server: LoopServer, session_id: str) -> RawResponse:
    first = _get(server, session_id)
    assert first.status == 200
    try:
        return _get(server, session_id)
    finally:
        first.close()


def _case_deleted(server: LoopServer, session_id: str) -> RawResponse:
    deleted = request(server.port, "DELETE", {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": VERSION})
    assert deleted.status == 200
    deleted.close()
    return _get(server, session_id)


CASES: dict[str, Callable[[LoopServer, str], RawResponse]] = {
    "stream": lambda s, sid: _get(s, sid),
    "accept */*": lambda s, sid: _get(s, sid, accept="*/*"),
    "accept text/*, with a quality": lambda s, sid: _get(s, sid, accept="text/*;q=0.9"),
    "no protocol version header": lambda s, sid: _get(s, sid, mcp_protocol_version=None),
    "older protocol version": lambda s, sid: _get(s, sid, mcp_protocol_version="2025-03-26"),
    "no session id": lambda s, sid: _get(s, None),
    "unknown session id": lambda s, sid: _get(s, "f" * 32),
    "session id too long": lambda s, sid: _get(s, "f" * 80),
    "accept json only": lambda s, sid: _get(s, sid, accept="application/json"),
    "no accept": lambda s, sid: _get(s, sid, accept=None),
    "foreign host": lambda s, sid: _get(s, sid, host="evil.example"),
    "foreign origin": lambda s, sid: _get(s, sid, origin="http://evil.example"),
    "allowed origin": lambda s, sid: _get(s, sid, origin=f"http://127.0.0.1:{s.port}"),
    "second stream": _case_second_stream,
    "deleted session": _case_deleted,
    "resume an unknown event of the GET stream": lambda s, sid: _get(
        s, sid, last_event_id=f"{GET_STREAM_KEY}:999999"
    ),
    "resume a nonsense event id": lambda s, sid: _get(s, sid, last_event_id="nonsense"),
    "resume a POST's stream": lambda s, sid: _get(s, sid, last_event_id="7:1"),
    "a body (the SDK serves it)": lambda s, sid: request(
        s.port,
        "GET",
        {"Accept": "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": VERSION},
        body=b"hello",
    ),
    "a body over the limit": lambda s, sid: _get(s, sid, content_length=str(2**30)),
}


def _stream_gone(server: LoopServer, session_id: str) -> bool:
    transport = server.manager._server_instances.get(session_id)
    return session_id not in server.streams and (
        transport is None or GET_STREAM_KEY not in transport._request_streams
    )


def _events(body: bytes) -> list[bytes]:
    """The SSE events of a body, keep-alive comments left out."""
    return [_normalized(e) + b"\r\n\r\n" for e in body.split(b"\r\n\r\n") if e and not e.startswith(b":")]


def _no_more_events(stream: RawResponse, seconds: float = 0.3) -> bool:
    before = len(_events(bytes(stream.body)))
    stream.quiet_for(seconds)
    return len(_events(bytes(stream.body))) == before


def _read_events(stream: RawResponse, count: int) -> bytes:
    """Read until the body holds ``count`` events besides keep-alive comments."""
    while len(_events(bytes(stream.body))) < count:
        stream.read_events(stream.body.count(b"\r\n\r\n") + 1)
    return bytes(stream.body)


@pytest.mark.parametrize("state", ["in-memory", "evicted"])
def test_answers_are_the_sdks(pairs: dict[str, tuple[LoopServer, LoopServer]], state: str) -> None:
    ours, sdk = pairs[state]
    for name, case in CASES.items():
        answers = []
        for server in (ours, sdk):
            session_id = _ready_session(server, state)
            response = case(server, session_id)
            try:
                open_stream = (
                    response.status == 200 and response.header("content-type") == "text/event-stream"
                )
                if not open_stream or name.startswith("resume"):
                    response.read_to_end()
                answers.append(response.comparable(session_id))
            finally:
                response.close()
        assert answers[0] == answers[1], name


def test_announcements_and_resumption_carry_the_sdks_bytes(
    pairs: dict[str, tuple[LoopServer, LoopServer]],
) -> None:
    """A tool change reaches the open stream once; one missed while it was closed is replayed on
    reconnect (``Last-Event-ID``), then comes the priming event, then new announcements, as the SDK does."""
    ours, sdk = pairs["in-memory"]
    seen: list[list[bytes]] = []
    for server in (ours, sdk):
        session_id = _ready_session(server, "in-memory")
        stream = _get(server, session_id)
        assert stream.status == 200
        assert server.call(server.sessions.notify_tools_changed()) >= 1
        first = _read_events(stream, 1)
        assert _no_more_events(stream), "announced twice"
        stream.close()
        _wait_until(lambda: _stream_gone(server, session_id))  # noqa: B023 - waited for right here
        server.call(server.sessions.notify_tools_changed())  # missed: stored for the GET stream
        last_event_id = re.search(rb"id: (\S+)", first)
        assert last_event_id is not None
        resumed = _get(server, session_id, last_event_id=last_event_id.group(1).decode())
        assert resumed.status == 200
        _read_events(resumed, 2)  # the missed announcement, then the priming event
        server.call(server.sessions.notify_tools_changed())
        body = _read_events(resumed, 3)
        assert _no_more_events(resumed)
        resumed.close()
        seen.append([*_events(first), *_events(body)])
    assert seen[0] == seen[1]
    event = b"id: " + GET_STREAM_KEY.encode() + b":<n>\r\nevent: message\r\n" + TOOLS_CHANGED + b"\r\n\r\n"
    assert seen[0] == [event, event, b"id: " + GET_STREAM_KEY.encode() + b":<n>\r\ndata: \r\n\r\n", event]


def test_announcements_reach_a_stream_whose_session_left_memory(
    pairs: dict[str, tuple[LoopServer, LoopServer]],
) -> None:
    ours, _ = pairs["evicted"]
    session_id = _ready_session(ours, "evicted")
    stream = _get(ours, session_id)
    try:
        assert stream.status == 200
        time.sleep(WARM * 2)
        assert not ours.held(session_id), "opening the stream brought the session back into memory"
        assert ours.call(ours.sessions.notify_tools_changed()) >= 1
        body = _read_events(stream, 1)
        assert _events(body) == [
            b"id: " + GET_STREAM_KEY.encode() + b":<n>\r\nevent: message\r\n" + TOOLS_CHANGED + b"\r\n\r\n"
        ]
        assert not ours.held(session_id)
    finally:
        stream.close()


def test_messages_the_session_sends_reach_the_stream(pairs: dict[str, tuple[LoopServer, LoopServer]]) -> None:
    """Whatever the SDK sends on the GET stream (here a notification through the session's own
    connection) is written to Bridgehead's stream while the session is in memory."""
    ours, _ = pairs["in-memory"]
    session_id = _open_session(ours)
    stream = _get(ours, session_id)
    try:
        connection = next(c for c in list(ours.sessions._connections) if c.session_id == session_id)
        ours.call(connection.send_tool_list_changed())
        assert TOOLS_CHANGED in stream.read_until(TOOLS_CHANGED)
        ours.call(connection.notify("notifications/message", {"level": "info", "data": "hello"}))
        assert b'"data":"hello"' in stream.read_until(b"hello")
    finally:
        stream.close()


def test_a_session_comes_and_goes_under_its_open_stream(tmp_path: Path) -> None:
    """The stream does not keep the session's SDK objects: they are freed when it leaves memory; when a
    request brings it back, what it sends to the GET stream reaches the stream still open."""
    settings = make_settings(tmp_path, mcp={"session_memory_idle_seconds": 1.0})
    with serve_with_loop(settings) as server:
        session_id = _open_session(server)
        transport = weakref.ref(server.manager._server_instances[session_id])
        stream = _get(server, session_id)
        try:
            assert stream.status == 200
            _wait_until(lambda: not server.held(session_id))
            _wait_until(lambda: gc.collect() >= 0 and transport() is None)
            session = {**HEADERS, "mcp-session-id": session_id, "mcp-protocol-version": VERSION}
            with httpx.Client(base_url=server.base_url, timeout=10) as http:
                assert http.post("/mcp", headers=session, json=rpc("tools/list")).status_code == 200
            assert _attached(server, session_id)
            connection = next(c for c in list(server.sessions._connections) if c.session_id == session_id)
            server.call(connection.send_tool_list_changed())
            assert TOOLS_CHANGED in _read_events(stream, 1)
        finally:
            stream.close()


def test_auth_answers_are_the_sdks(tmp_path: Path) -> None:
    """The bearer guard runs before the stream; another user's session is unknown (404)."""
    answers = []
    with ExitStack() as stack:
        for name, sdk in (("ours", False), ("sdk", True)):
            store = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
            add_user(store, "alice", "member")
            add_user(store, "rita", "reader")
            settings = make_settings(tmp_path / name, auth={"mode": "oauth"}, store={"url": store})
            server = stack.enter_context(serve_with_loop(settings, sdk_streams=sdk))
            with httpx.Client(timeout=10) as http:
                alice = obtain_tokens(http, server.base_url, "alice", PASSWORD)["access_token"]
                rita = obtain_tokens(http, server.base_url, "rita", PASSWORD)["access_token"]
            session_id = _open_session(server, {"authorization": f"Bearer {alice}"})
            found = []
            for token in (None, "garbage.token.here", rita, alice):
                response = _get(server, session_id, authorization=f"Bearer {token}" if token else None)
                if response.status != 200:
                    response.read_to_end()
                status, headers, body = response.comparable(session_id)
                response.close()
                port = str(server.port)  # challenges name this server's own URLs
                found.append(
                    (
                        status,
                        [(k, v.replace(port, "<port>")) for k, v in headers],
                        body.replace(port.encode(), b"<port>"),
                    )
                )
            answers.append(found)
    assert [a[0] for a in answers[0]] == [401, 401, 404, 200]
    assert answers[0] == answers[1]


def test_delete_ends_the_stream(pairs: dict[str, tuple[LoopServer, LoopServer]]) -> None:
    ours, _ = pairs["evicted"]
    session_id = _ready_session(ours, "evicted")
    stream = _get(ours, session_id)
    assert stream.status == 200
    deleted = request(ours.port, "DELETE", {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": VERSION})
    assert deleted.status == 200
    deleted.close()
    stream.read_to_end(timeout=5)  # the response ended
    stream.close()
    _wait_until(lambda: session_id not in ours.streams)
    assert _get(ours, session_id).status == 404


def _attached(server: LoopServer, session_id: str) -> bool:
    """Whether the session's transport writes its GET-stream messages into Bridgehead's stream."""
    pair = server.manager._server_instances[session_id]._request_streams.get(GET_STREAM_KEY)
    return pair is not None and isinstance(pair[0], TransportSink)


def _live(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


async def _task_count() -> int:
    return len(asyncio.all_tasks())


def test_closed_streams_leave_nothing_behind(pairs: dict[str, tuple[LoopServer, LoopServer]]) -> None:
    """Open and close many streams, on sessions in memory and out of it: objects and tasks come back."""
    ours, _ = pairs["in-memory"]
    sessions = [_open_session(ours) for _ in range(30)]
    baseline = (_live(RequestResponseCycle), ours.call(_task_count()))
    for _ in range(3):
        streams = [_get(ours, session_id) for session_id in sessions]
        assert all(s.status == 200 for s in streams)
        _wait_until(lambda: all(_attached(ours, sid) for sid in sessions))
        assert len(ours.streams) == len(sessions)
        assert _live(OpenStream) == len(sessions)
        for stream in streams:
            stream.close()
        _wait_until(lambda: len(ours.streams) == 0)
        _wait_until(lambda: _live(OpenStream) == 0 and _live(TransportSink) == 0)
        _wait_until(lambda: (_live(RequestResponseCycle), ours.call(_task_count())) <= baseline)
        for session_id in sessions:
            assert GET_STREAM_KEY not in ours.manager._server_instances[session_id]._request_streams


def test_a_stalled_client_loses_its_stream(
    pairs: dict[str, tuple[LoopServer, LoopServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading holds no writer forever: after WRITE_TIMEOUT its stream is dropped."""
    monkeypatch.setattr(standalone_streams, "WRITE_TIMEOUT", 0.3)
    ours, _ = pairs["in-memory"]
    session_id = _open_session(ours)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", ours.port))
    sock.sendall(
        (
            f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{ours.port}\r\nAccept: text/event-stream\r\n"
            f"Mcp-Session-Id: {session_id}\r\nMCP-Protocol-Version: {VERSION}\r\n\r\n"
        ).encode()
    )
    try:
        _wait_until(lambda: session_id in ours.streams)
        big = types.JSONRPCNotification(
            jsonrpc="2.0", method="notifications/message", params={"data": "x" * 2**18}
        )
        for _ in range(400):
            if session_id not in ours.call(ours.streams.broadcast(big)):
                break
        assert session_id not in ours.streams
        _wait_until(lambda: _live(OpenStream) == 0)
    finally:
        sock.close()
    again = _get(ours, session_id)
    assert again.status == 200
    again.close()


def test_the_sdk_internals_this_relies_on_are_there() -> None:
    """Pinned SDK (mcp==2.3.0): the transport's message router writes GET-stream messages to
    ``_request_streams[GET_STREAM_KEY][0].send`` and cleans up with ``aclose`` (TransportSink stands there)."""
    router = inspect.getsource(StreamableHTTPServerTransport.connect)
    assert (
        "request_stream_id = target_request_id if target_request_id is not None else GET_STREAM_KEY" in router
    )
    assert "await self._request_streams[request_stream_id][0].send(EventMessage(message, event_id))" in router
    cleanup = inspect.getsource(StreamableHTTPServerTransport._clean_up_memory_streams)
    assert "[0].aclose()" in cleanup and "[1].aclose()" in cleanup
    closing = inspect.getsource(StreamableHTTPServerTransport.close_sse_stream)
    assert "send_stream.close()" in closing
    assert isinstance(StreamableHTTPServerTransport(mcp_session_id="x")._request_streams, dict)
    # GETs skip the body-size limit by calling the manager's own dispatch (era routing) directly.
    assert list(inspect.signature(StreamableHTTPSessionManager._handle_request).parameters) == [
        "self",
        "scope",
        "receive",
        "send",
    ]


def _serve_log(tmp_path: Path) -> str:
    return next(tmp_path.glob("serve-*.log")).read_text()


async def test_the_sdk_client_hears_of_tool_changes_after_its_session_left_memory(tmp_path: Path) -> None:
    """The official SDK client opens the GET stream itself; its session leaves memory while the stream
    stays open, and a reload (SIGHUP) still reaches it. Its next request re-opens the session."""
    docs, hr = two_folders(tmp_path)
    config = tmp_path / "bridgehead.toml"
    _config(config, docs, tmp_path / "data", memory_idle_seconds=WARM)
    listener = ListChanged()

    with bridgehead_process(tmp_path, "--config", str(config)) as base:
        pid = int(_pid_of(tmp_path))
        async with Client(base + "/mcp", mode="legacy", message_handler=listener.on_message) as client:
            assert {t.name for t in (await client.list_tools()).tools} == {"search", "fetch"}
            await asyncio.sleep(WARM * 5)  # the session leaves memory; the GET stream stays open
            reopened_before = _serve_log(tmp_path).count("re-opened stored session")
            _config(config, docs, tmp_path / "data", second=hr, memory_idle_seconds=WARM)
            os.kill(pid, signal.SIGHUP)
            await asyncio.wait_for(listener.changed.wait(), timeout=20)
            after = await client.list_tools()
            assert {t.name for t in after.tools} == {"search", "fetch", "hr_search", "hr_fetch"}
            # The change reached a session that was out of memory: listing the tools brought it back.
            log = _serve_log(tmp_path)
            assert log.count("re-opened stored session") > reopened_before
            assert "to 1 session(s)" in log
        assert listener.notifications == ["notifications/tools/list_changed"]


def test_keep_alive_comments_reach_open_streams(pairs: dict[str, tuple[LoopServer, LoopServer]]) -> None:
    """One loop pings every stream (every PING_INTERVAL seconds), as the SDK's per-stream ping task did."""
    ours, _ = pairs["evicted"]
    session_id = _ready_session(ours, "evicted")
    stream = _get(ours, session_id)
    try:
        ours.call(ours.streams._ping_all())
        assert re.fullmatch(
            rb": ping - \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00\r\n\r\n", stream.read_events(1)
        )
    finally:
        stream.close()
