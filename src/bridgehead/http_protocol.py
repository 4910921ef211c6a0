"""The HTTP/1.1 protocol Bridgehead runs under uvicorn: uvicorn's httptools protocol, with each response's
head and the body that follows it sent in one write.

uvicorn writes a response's status line and headers as soon as the application sends
``http.response.start``, and the body with the next message: two ``send`` system calls and two
TCP segments for every small JSON answer, each waking the client. Holding the head until the
body comes (or until the end of the event loop's current turn, for a response whose body is
not ready yet: a stream, or ``100 Continue``) puts both in one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Every response head uvicorn writes begins with its status line.
_HEAD_START = b"HTTP/1.1 "


class _CoalescingTransport:
    """A connection's transport that holds a response head back for the body that follows it."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:9] == _HEAD_START:
            # bytes: a caller's buffer could change before the flush.
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write a held head now (its body did not follow in the same turn of the loop)."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        # Asked after every response: spelled out, not found through __getattr__. It writes nothing,
        # so a held head need not go first.
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        # Anything else (pause_reading, get_extra_info, set_protocol…) goes to the
        # transport itself, after what is held: nothing may overtake a written head.
        self.flush()
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a ``_CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = _CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
