"""A bare HTTP/1.1 client over a socket, for GET /mcp streams: exact heads and bytes, many streams cheaply."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

IGNORED_HEADERS = frozenset({"date", "server"})


@dataclass
class RawResponse:
    """A response head, and whatever of its (de-chunked) body has been read so far."""

    sock: socket.socket
    status: int
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    @property
    def chunked(self) -> bool:
        return ("transfer-encoding", "chunked") in self.headers

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def comparable(self, session_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers (without date and server) and body, with the session id replaced by a marker
        (and any other session id, such as one the SDK made up for a request without one, by another)."""

        def marked(name: str, value: str) -> str:
            if name == "mcp-session-id" and value != session_id:
                return "<other session>"
            return value.replace(session_id, "<session>")

        headers = [(k, marked(k, v)) for k, v in self.headers if k not in IGNORED_HEADERS]
        return self.status, headers, bytes(self.body).replace(session_id.encode(), b"<session>")

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Read body until ``marker`` appears (or the body ends); returns the body read so far."""
        deadline = time.monotonic() + timeout
        while marker not in self.body and not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{marker!r} not seen; body so far: {bytes(self.body)!r}")
            self._pump(remaining)
        return bytes(self.body)

    def read_events(self, count: int, timeout: float = 10.0) -> bytes:
        """Read body until it holds ``count`` whole SSE events (each ends with a blank line)."""
        deadline = time.monotonic() + timeout
        while self.body.count(b"\r\n\r\n") < count and not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{count} events not seen; body so far: {bytes(self.body)!r}")
            self._pump(remaining)
        return bytes(self.body)

    def read_to_end(self, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the response did not end; body so far: {bytes(self.body)!r}")
            self._pump(remaining)
        return bytes(self.body)

    def quiet_for(self, seconds: float) -> bool:
        """True if nothing more arrives for ``seconds``."""
        before = len(self.body)
        try:
            self._pump(seconds)
        except TimeoutError:
            return True
        return len(self.body) == before and not self.ended

    def close(self) -> None:
        self.sock.close()

    def _pump(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise
        except OSError:
            data = b""
        if not data:
            self.ended = True
            return
        self._buffer += data
        self._decode()

    def _decode(self) -> None:
        if not self.chunked:
            self.body += self._buffer
            self._buffer.clear()
            length = self.header("content-length")
            if length is not None and len(self.body) >= int(length):
                self.ended = True
            return
        while True:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self._buffer[:line_end], 16)
            if size == 0:
                self.ended = True
                return
            if len(self._buffer) < line_end + 2 + size + 2:
                return
            self.body += self._buffer[line_end + 2 : line_end + 2 + size]
            del self._buffer[: line_end + 2 + size + 2]


def request(
    port: int, method: str, headers: dict[str, str], body: bytes = b"", timeout: float = 10.0
) -> RawResponse:
    """Send one request on a new connection and read the response head (and what came with it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    lines = [f"{method} /mcp HTTP/1.1"]
    if not any(k.lower() == "host" for k in headers):
        lines.append(f"Host: 127.0.0.1:{port}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    received = bytearray()
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before a response head: {bytes(received)!r}")
        received += data
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [(k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in header_lines)]
    response = RawResponse(sock, int(status_line.split()[1]), parsed)
    response._buffer += rest
    response._decode()
    if response.status in (204, 304) or response.header("content-length") == "0":
        response.ended = True
    return response
