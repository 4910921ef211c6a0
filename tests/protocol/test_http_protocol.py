"""The HTTP protocol's coalescing transport: a response head goes out with its body, and never late."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

import pytest

from bridgehead.http_protocol import _CoalescingTransport
from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what is written to it, in order, with the calls that are not writes."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def write(self, data: Any) -> None:
        self.events.append(bytes(data))

    def close(self) -> None:
        self.events.append("close")

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.events.append("pause_reading")


async def _coalescing() -> tuple[_CoalescingTransport, RecordingTransport]:
    recording = RecordingTransport()
    return _CoalescingTransport(recording, asyncio.get_running_loop()), recording


async def test_head_and_body_written_in_one_turn_go_out_together() -> None:
    transport, recording = await _coalescing()
    transport.write(HEAD)
    assert recording.events == []  # held for the body
    transport.write(b"{}")
    assert recording.events == [HEAD + b"{}"]
    await asyncio.sleep(0)
    assert recording.events == [HEAD + b"{}"]  # nothing left to flush


async def test_a_head_without_its_body_goes_out_at_the_end_of_the_turn() -> None:
    transport, recording = await _coalescing()
    transport.write(HEAD)
    await asyncio.sleep(0)
    assert recording.events == [HEAD]
    transport.write(b"data: 1\n\n")  # a stream's later chunks are not held
    assert recording.events == [HEAD, b"data: 1\n\n"]


async def test_nothing_overtakes_a_held_head() -> None:
    transport, recording = await _coalescing()
    transport.write(HEAD)
    transport.pause_reading()
    assert recording.events == [HEAD, "pause_reading"]
    transport.write(HEAD)
    transport.close()
    assert recording.events == [HEAD, "pause_reading", HEAD, "close"]
    assert transport.is_closing() is False


async def test_a_held_head_is_a_copy() -> None:
    transport, recording = await _coalescing()
    buffer = bytearray(HEAD)
    transport.write(buffer)
    buffer[:] = b"changed"
    transport.write(b"{}")
    assert recording.events == [HEAD + b"{}"]


def _write_calls() -> int:
    """write()-family system calls this process has made (the test server runs in it)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("syscw:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's per-process I/O counters")
def test_a_response_is_one_write(sample_server: RunningServer) -> None:
    """Through the server as it runs: a small response costs one write, not one for the head and one for the body."""
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{sample_server.port}\r\n\r\n".encode()
    count = 50
    with socket.create_connection(("127.0.0.1", sample_server.port), timeout=10) as sock:
        sock.sendall(request)
        sock.recv(65536)  # warmed up
        before = _write_calls()
        for _ in range(count):
            sock.sendall(request)  # a socket send is not a write() here: not counted
            received = b""
            while not received.endswith(b"}"):
                received += sock.recv(65536)
        writes = _write_calls() - before
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    # Other threads of the process may write now and then; two writes a response would be >= 100.
    assert writes < count * 1.5, f"{writes} writes for {count} responses"


@pytest.mark.parametrize("wait_for_continue", [True, False])
def test_expect_100_continue(sample_server: RunningServer, wait_for_continue: bool) -> None:
    """The interim 100 Continue (written while the application waits for the body) is not held back
    until the final response: a client that waits for it before sending the body gets it."""
    body = json.dumps(initialize_body()).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{sample_server.port}\r\nExpect: 100-continue\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", sample_server.port), timeout=10) as sock:
        sock.sendall(head)
        received = b""
        if wait_for_continue:
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        while b'"serverInfo"' not in received:
            received += sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
