"""The user's side of an interactive OAuth flow: a browser to sign in with, and a loopback
listener that catches the authorization server's redirect.

``Browser`` is the extension point, one method like httpx's transports: the CLI opens the
system browser, tests drive the sign-in pages headlessly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import webbrowser
from collections.abc import Callable
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

CALLBACK_PATH = "/callback"
MAX_REQUEST_LINE = 16 * 1024
DONE_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>bridgehead doctor</title>"
    b"<p>The doctor received the authorization response. You can close this window.</p>"
)


class Browser:
    """Where the doctor sends the user to sign in and approve access."""

    async def open(self, url: str) -> None:
        """Show ``url`` to the user; the redirect back reaches the doctor's loopback listener."""
        raise NotImplementedError


class SystemBrowser(Browser):
    """Opens the system's web browser, and always prints the URL too (for headless machines)."""

    def __init__(self, announce: Callable[[str], None]) -> None:
        self.announce = announce

    async def open(self, url: str) -> None:
        self.announce(url)
        if not graphical():
            return  # webbrowser would start a text browser in this terminal; the printed URL will do
        with contextlib.suppress(webbrowser.Error):
            await asyncio.to_thread(webbrowser.open, url)


def graphical() -> bool:
    """Whether a desktop browser can be opened here."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class RedirectCatcher:
    """A one-shot HTTP listener on 127.0.0.1 that receives the authorization response.

    Its ``redirect_uri`` is a loopback URI (RFC 8252 §7.3), which the doctor registers
    instead of ChatGPT's when it runs the flow interactively.
    """

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[dict[str, str]] | None = None
        self.redirect_uri = ""

    async def __aenter__(self) -> RedirectCatcher:
        self._result = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def expect(self) -> None:
        """Wait for a new redirect from now on (each sign-in of a run comes back here)."""
        if self._result is None or self._result.done():
            self._result = asyncio.get_running_loop().create_future()

    async def wait(self) -> dict[str, str]:
        """The query parameters of the redirect (bound the wait with a timeout around it)."""
        assert self._result is not None
        return await asyncio.shield(self._result)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            if len(line) > MAX_REQUEST_LINE:
                return
            parts = line.decode("latin-1").split()
            target = urlsplit(parts[1]) if len(parts) >= 2 else None
            if target is None or parts[0] != "GET" or target.path != CALLBACK_PATH:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            params = dict(parse_qsl(target.query, keep_blank_values=True))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                + f"Content-Length: {len(DONE_PAGE)}\r\nConnection: close\r\n\r\n".encode()
                + DONE_PAGE
            )
            if self._result is not None and not self._result.done():
                self._result.set_result(params)
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            return
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
