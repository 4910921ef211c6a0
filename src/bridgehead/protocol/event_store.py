"""Resumability for Streamable HTTP: an in-memory event store behind the SDK's EventStore interface.

A client whose SSE stream drops reconnects with ``Last-Event-ID`` and receives
what it missed. Each stream keeps its newest ``max_events_per_stream`` events;
streams idle longer than the session timeout are forgotten.

The SDK names a stream after the JSON-RPC request id (or ``_GET_stream``), so
two sessions use the same stream names. Each session's transport therefore
gets its own view (:meth:`MemoryEventStore.for_session`): the storage and its
limits are shared, but a session stores and replays only its own streams.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage

SMALL_STREAM = 8
"""Events a stream keeps in a plain list; a longer stream moves to a bounded deque.

Most streams are one POST's SSE response (a priming event and the response), and
streams outlive their session by up to the session timeout: a deque, whose first
block alone is ~600 bytes, would cost more than their two events.
"""


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    stream_id: StreamId
    message: JSONRPCMessage | None


class MemoryEventStore(EventStore):
    """A bounded, process-local event store; event ids are ``<stream>:<sequence>``.

    One instance is one scope: sessions must not share it directly, or one
    client could replay another's stream. Hand each session ``for_session(id)``.
    """

    def __init__(
        self, max_events_per_stream: int = 1000, max_streams: int = 20_000, stream_ttl: float = 3600
    ) -> None:
        self._max_events = max_events_per_stream
        self._max_streams = max_streams
        self._ttl = stream_ttl
        self._streams: OrderedDict[tuple[str, StreamId], tuple[float, list[_Event] | deque[_Event]]] = (
            OrderedDict()
        )
        self._seq = itertools.count(1)
        self._scope = ""

    def for_session(self, session_id: str) -> MemoryEventStore:
        """A view for one session's transport: same storage and limits, but only that session's streams."""
        view = copy.copy(self)
        view._scope = session_id
        return view

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        now = time.monotonic()
        key = (self._scope, stream_id)
        entry = self._streams.pop(key, None)
        events = entry[1] if entry else []
        event = _Event(next(self._seq), stream_id, message)
        events.append(event)
        if isinstance(events, list) and len(events) > min(SMALL_STREAM, self._max_events):
            events = deque(events, maxlen=self._max_events)
        self._streams[key] = (now, events)
        self._evict(now)
        return f"{stream_id}:{event.seq}"

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        stream_id, sep, seq_text = last_event_id.rpartition(":")
        if not sep or not seq_text.isdigit():
            return None
        entry = self._streams.get((self._scope, stream_id))
        if entry is None:
            return None
        last_seq = int(seq_text)
        for event in list(entry[1]):
            if event.seq > last_seq and event.message is not None:
                await send_callback(EventMessage(event.message, f"{stream_id}:{event.seq}"))
        return stream_id

    def _evict(self, now: float) -> None:
        while self._streams:
            oldest_id, (touched, _) = next(iter(self._streams.items()))
            if len(self._streams) > self._max_streams or now - touched > self._ttl:
                self._streams.pop(oldest_id)
            else:
                break
