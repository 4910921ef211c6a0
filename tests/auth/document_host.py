"""A web server on 127.0.0.1 that serves what a test tells it to: client metadata documents, JWKS,
and the ways such a server goes wrong (redirects, slowness, oversized or non-JSON answers)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One canned response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_length: bool = True
    """False: no Content-Length, the body ends when the connection closes."""


class DocumentHost:
    """Serves canned answers by path and counts the requests for each."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: dict[str, Answer] = {}
        self.hits: Counter[str] = Counter()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, answer: Answer) -> str:
        self.answers[path] = answer
        return self.url(path)

    def serve_json(self, path: str, data: Any, headers: dict[str, str] | None = None) -> str:
        body = json.dumps(data).encode()
        return self.serve(
            path, Answer(body=body, headers={"content-type": "application/json", **(headers or {})})
        )


class _Handler(BaseHTTPRequestHandler):
    host: DocumentHost

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.host.hits[path] += 1
        answer = self.host.answers.get(path, Answer(status=404, body=b"not found"))
        if answer.delay:
            time.sleep(answer.delay)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.content_length:
            self.send_header("content-length", str(len(answer.body)))
        else:
            self.close_connection = True
        self.end_headers()
        # The client may give up (a size cap or a timeout): that is the point of some tests.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def document_host() -> Iterator[DocumentHost]:
    """A DocumentHost listening on a free 127.0.0.1 port until the block ends."""
    host = DocumentHost(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"host": host}))
    server.daemon_threads = True
    host.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
