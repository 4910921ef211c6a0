"""The standalone SSE streams of stateful sessions (GET /mcp), served without the SDK's machinery.

The SDK serves each GET stream with an ``EventSourceResponse`` (five tasks), a
writer task and two pairs of memory object streams, and keeps the session's
server task, dispatcher and connection in memory while the stream is open:
some 70 KiB a stream. Here a stream is one small object holding the ASGI
``send``. The request's own task waits for the client to go away; one task for
the whole process sends keep-alive comments, notices shutdown and keeps the
stored sessions of open streams alive; messages are written as SSE events
directly, in the SDK's wire form and with ids from the same event store, so a
client resumes with ``Last-Event-ID`` as before.

The session need not stay in memory while only its stream is open. When its SDK
objects are in memory, its transport's message router (which routes server
notifications and requests that belong to no request to the GET stream) writes
into the stream through a :class:`TransportSink` standing where the SDK's own
stream would be; when they are not, Bridgehead's broadcasts reach the stream
through :meth:`StandaloneStreams.broadcast`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
from mcp.server.streamable_http import (
    GET_STREAM_KEY,
    LAST_EVENT_ID_HEADER,
    MCP_SESSION_ID_HEADER,
    EventMessage,
    check_accept_headers,
)
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import DEFAULT_NEGOTIATED_VERSION, INVALID_REQUEST, ErrorData, JSONRPCError, JSONRPCMessage
from mcp_types.version import is_version_at_least
from sse_starlette.sse import AppStatus
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from bridgehead.protocol.event_store import MemoryEventStore

logger = logging.getLogger(__name__)

PING_INTERVAL = 15.0
"""Seconds between keep-alive comments, as the SDK's EventSourceResponse sends them."""
WRITE_TIMEOUT = 5.0
"""A client that has not taken a write in this long is stalled; its stream is closed."""
POLL_INTERVAL = 0.5
"""How often the shared loop looks for a server shutdown (as sse_starlette's watcher does)."""
YIELD_EVERY = 256
"""Streams written to between turns of the event loop in a broadcast or a round of pings."""

SSE_RESUMABLE_SINCE = "2025-11-25"
"""Clients from this version on understand the empty priming event that starts a resumed stream."""


def sse_event(data: str, event_id: str | None) -> bytes:
    """One message event as the SDK writes it (sse_starlette's field order and line endings)."""
    head = f"id: {event_id}\r\n" if event_id else ""
    return f"{head}event: message\r\ndata: {data}\r\n\r\n".encode()


def message_data(message: JSONRPCMessage) -> str:
    """A message's JSON, serialised as the SDK transport serialises it."""
    return message.model_dump_json(by_alias=True, exclude_unset=True)


def _ping() -> bytes:
    return f": ping - {datetime.now(UTC)}\r\n\r\n".encode()


def _stream_headers(session_id: str) -> list[tuple[bytes, bytes]]:
    """The SDK's GET stream headers, in its order (tests/protocol/test_standalone_streams.py compares them)."""
    return [
        (b"cache-control", b"no-cache, no-transform"),
        (b"connection", b"keep-alive"),
        (b"content-type", b"text/event-stream"),
        (MCP_SESSION_ID_HEADER.encode(), session_id.encode()),
        (b"x-accel-buffering", b"no"),
    ]


def _error(message: str, status: int, session_id: str) -> Response:
    """An error answer as the session's SDK transport gives it: JSON-RPC error, no id, the session header."""
    body = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message=message))
    return Response(
        body.model_dump_json(by_alias=True, exclude_unset=True),
        status_code=status,
        headers={"Content-Type": "application/json", MCP_SESSION_ID_HEADER: session_id},
    )


class OpenStream:
    """One open standalone stream: the ASGI ``send`` of its response and an order for its writes.

    Writes never interleave: while one is waiting for the client, later ones queue
    behind it and the waiting writer sends them in order. A new stream is held (its
    writes queue) until its response has started and any replay is written:
    :meth:`release` or :meth:`replay` lets them through.
    """

    __slots__ = ("_backlog", "_busy", "_closing", "_send", "_task", "closed", "session_id", "stalled")

    def __init__(self, session_id: str, send: Send, task: asyncio.Task[Any] | None) -> None:
        self.session_id = session_id
        self._send = send
        self._task = task
        self._backlog: deque[bytes] | None = None
        self._busy = True  # held until released
        self._closing = False
        self.closed = False
        self.stalled = False

    @property
    def busy(self) -> bool:
        return self._busy

    async def release(self) -> None:
        """Send what was written while the stream was held, and let later writes through."""
        try:
            await self._drain()
        finally:
            self._busy = False

    async def replay(self, events: MemoryEventStore, last_event_id: str, prime: bool) -> bool:
        """Write what the session's store holds after ``last_event_id`` (then, with ``prime``, a new
        priming event, as the SDK starts a resumed stream), then release the stream. False if the
        event is unknown."""
        try:

            async def resend(event: EventMessage) -> None:
                await self._body(sse_event(message_data(event.message), event.event_id))

            found = await events.replay_events_after(last_event_id, resend) is not None
            if found and prime:
                priming_id = await events.store_event(GET_STREAM_KEY, None)
                await self._body(f"id: {priming_id}\r\ndata: \r\n\r\n".encode())
        finally:
            await self.release()
        return found

    async def write(self, chunk: bytes) -> None:
        """Send ``chunk`` now, or after the writes already waiting; dropped once the stream is closing."""
        if self.closed or self._closing:
            return
        if self._busy:
            if self._backlog is None:
                self._backlog = deque()
            self._backlog.append(chunk)
            return
        self._busy = True
        try:
            await self._body(chunk)
            await self._drain()
        finally:
            self._busy = False

    async def close(self) -> None:
        """End the response (its request task then sees the end and returns)."""
        if self.closed or self._closing:
            return
        self._closing = True
        if self._busy:
            return  # the writer in progress ends it after what is queued
        self._busy = True
        try:
            await self._drain()
        finally:
            self._busy = False

    def close_soon(self) -> None:
        """:meth:`close`, from code that cannot wait (the SDK closes streams synchronously)."""
        if not (self.closed or self._closing):
            _spawn(self.close())

    async def _drain(self) -> None:
        while self._backlog and not self.closed:
            await self._body(self._backlog.popleft())
        self._backlog = None
        if self._closing and not self.closed:
            self.closed = True
            await self._timed({"type": "http.response.body", "body": b"", "more_body": False})

    async def _body(self, chunk: bytes) -> None:
        if not self.closed:
            await self._timed({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _timed(self, message: Message) -> None:
        try:
            with anyio.move_on_after(WRITE_TIMEOUT) as scope:
                await self._send(message)
        except OSError:  # servers may raise once the client is gone (uvicorn drops the write)
            self.closed = True
            return
        if scope.cancelled_caught:
            self._give_up()

    def _give_up(self) -> None:
        """The client stopped reading: drop the stream and stop its request task, which frees the connection."""
        if self.stalled:
            return
        logger.warning(
            "closing the GET stream of session %s: the client stopped reading", self.session_id[:64]
        )
        self.stalled = self.closed = True
        self._backlog = None
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()


class TransportSink:
    """Stands in the SDK transport's table of request streams where its own GET stream would be.

    The transport's message router stores each message for the GET stream in the
    event store and then ``send``s it here with its event id; this writes it to the
    open stream. ``aclose`` comes when the transport ends or leaves memory: the
    stream stays open. ``close`` is the SDK's ``close_standalone_sse_stream``: the
    response ends, so the client reconnects with ``Last-Event-ID``.
    """

    __slots__ = ("stream",)

    def __init__(self, stream: OpenStream) -> None:
        self.stream = stream

    async def send(self, item: EventMessage) -> None:
        await self.stream.write(sse_event(message_data(item.message), item.event_id))

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        self.stream.close_soon()


StreamHook = Callable[[OpenStream], Awaitable[None]]


class StandaloneStreams:
    """Every open standalone stream of this process, by session id (one per session, as the SDK allows).

    ``on_open`` runs once a stream is registered (the session manager connects it to
    the session's transport, if in memory); ``on_close`` once it has ended.
    """

    def __init__(
        self,
        events: MemoryEventStore | None,
        security: TransportSecurityMiddleware,
        on_open: StreamHook | None = None,
        on_close: StreamHook | None = None,
    ) -> None:
        self.events = events
        self.security = security
        self.on_open = on_open
        self.on_close = on_close
        self._streams: dict[str, OpenStream] = {}
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._streams

    def get(self, session_id: str) -> OpenStream | None:
        return self._streams.get(session_id)

    def session_ids(self) -> list[str]:
        return list(self._streams)

    def resumes_here(self, last_event_id: str) -> bool:
        """Whether a ``Last-Event-ID`` names an event of a standalone stream, which this can replay.

        Ids of a POST's stream resume a request still running in the session: the SDK serves those.
        """
        return self.events is not None and last_event_id.rpartition(":")[0] == GET_STREAM_KEY

    async def handle(self, scope: Scope, receive: Receive, send: Send, session_id: str) -> None:
        """GET /mcp for a known, live session: the checks and answers of the SDK's transport, then the stream.

        The caller has found the session (in memory or in the store) and checked that it is the caller's.
        """
        request = Request(scope, receive)
        refused = await self.security.validate_request(request, is_post=False)
        if refused is not None:
            await refused(scope, receive, send)
            return
        if not check_accept_headers(request)[1]:
            refusal = _error("Not Acceptable: Client must accept text/event-stream", 406, session_id)
            await refusal(scope, receive, send)
            return
        last_event_id = request.headers.get(LAST_EVENT_ID_HEADER)
        if not last_event_id and session_id in self._streams:
            conflict = _error("Conflict: Only one SSE stream is allowed per session", 409, session_id)
            await conflict(scope, receive, send)
            return
        version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER, DEFAULT_NEGOTIATED_VERSION)
        del request  # nothing of it is needed while the stream is open
        # Registered before anything is awaited, so a second GET meanwhile gets its 409. A resumed
        # stream becomes the session's stream only if it has none (the SDK's rule too).
        live = session_id not in self._streams
        stream = OpenStream(session_id, send, asyncio.current_task())
        if live:
            self._streams[session_id] = stream
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _stream_headers(session_id)})
            if live and self.on_open is not None:
                await self.on_open(stream)
            if last_event_id:
                assert self.events is not None
                prime = live and is_version_at_least(version, SSE_RESUMABLE_SINCE)
                found = await stream.replay(self.events.for_session(session_id), last_event_id, prime)
                if not (live and found):
                    await stream.close()  # nothing to resume from, or the session's stream is open elsewhere
            else:
                await stream.release()
            if self._shutting_down:
                await stream.close()
            # Wait for the client to go away, or for the response to end (the server then reports
            # a disconnect). Inline rather than a helper: one frame less per open stream.
            while not stream.closed:
                if (await receive())["type"] == "http.disconnect":
                    break
        except asyncio.CancelledError:
            if not stream.stalled:
                raise
            # Cancelled by OpenStream._give_up: returning without ending the response makes the
            # server drop the connection.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            stream.closed = True
            if live:
                if self._streams.get(session_id) is stream:
                    del self._streams[session_id]
                if self.on_close is not None:
                    with anyio.CancelScope(shield=True):
                        await self.on_close(stream)

    async def broadcast(self, message: JSONRPCMessage) -> set[str]:
        """Write ``message`` on every open stream (stored for each, so it can be replayed); returns their sessions."""
        data = message_data(message)
        reached: set[str] = set()
        for count, stream in enumerate(list(self._streams.values()), 1):
            if stream.closed:
                continue
            await stream.write(sse_event(data, await self._store(stream.session_id, message)))
            reached.add(stream.session_id)
            if count % YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()
        return reached

    async def close(self, session_id: str) -> None:
        """End the session's stream, if one is open (the session was deleted)."""
        stream = self._streams.get(session_id)
        if stream is not None:
            await stream.close()

    async def close_all(self) -> None:
        self._shutting_down = True
        for count, stream in enumerate(list(self._streams.values()), 1):
            await stream.close()
            if count % YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()

    async def keep_alive(
        self, touch: Callable[[list[str]], Awaitable[None]] | None = None, touch_interval: float = 30.0
    ) -> None:
        """Until cancelled: keep-alive comments on every stream every PING_INTERVAL, ``touch`` of the open
        streams' sessions every ``touch_interval`` (so the store does not expire them), and every stream
        ended once the server shuts down (uvicorn waits for open responses before it stops)."""
        now = anyio.current_time()
        next_ping, next_touch = now + PING_INTERVAL, now + touch_interval
        while True:
            await anyio.sleep(min(POLL_INTERVAL, touch_interval))
            if AppStatus.should_exit and not self._shutting_down:
                await self.close_all()
            now = anyio.current_time()
            if now >= next_ping:
                next_ping = now + PING_INTERVAL
                await self._ping_all()
            if touch is not None and now >= next_touch and self._streams:
                next_touch = now + touch_interval
                try:
                    await touch(self.session_ids())
                except Exception:  # the store may be briefly unreachable; the next round tries again
                    logger.exception("could not record the activity of sessions with open streams")

    async def _ping_all(self) -> None:
        ping = _ping()
        for count, stream in enumerate(list(self._streams.values()), 1):
            if not stream.busy:  # a stream being written to needs no keep-alive
                await stream.write(ping)
            if count % YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()

    async def _store(self, session_id: str, message: JSONRPCMessage) -> str | None:
        if self.events is None:
            return None
        return await self.events.for_session(session_id).store_event(GET_STREAM_KEY, message)


_background: set[asyncio.Task[None]] = set()


def _spawn(work: Awaitable[None]) -> None:
    async def run() -> None:
        await work

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_background.discard)
