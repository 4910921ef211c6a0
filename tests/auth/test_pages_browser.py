"""The login and consent pages in a real browser: headless Chromium driven by Playwright.

A person fills in the login form, presses Sign in, then Allow, and the browser must land on the
client's loopback redirect URI with ``code``, ``state`` and ``iss``. Screenshots of both pages
are written to the temporary directory for people to look at.

Chromium comes from the distribution (``apt-get install chromium``, which ``.ci/run`` does);
Playwright only drives it and never downloads a browser of its own.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.auth.conftest import PASSWORD
from tests.auth.flow import exchange, pkce_pair, register
from tests.conftest import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(tempfile.gettempdir())

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs the distribution's Chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
    pytest.mark.timeout(120),
]


@dataclass
class Callback:
    """A loopback HTTP server standing in for a native client's redirect URI."""

    server: ThreadingHTTPServer
    queries: list[dict[str, str]] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        host, port = self.server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/callback"


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def callback_server(host: str = "127.0.0.1") -> Iterator[Callback]:
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/callback":  # the browser also asks for /favicon.ico
                self.send_error(404)
                return
            received.append({k: v[0] for k, v in parse_qs(url.query).items()})
            body = b"<!doctype html><title>Connected</title><h1>You can close this window.</h1>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = (_IPv6Server if ":" in host else ThreadingHTTPServer)((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Callback(server, received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def callback() -> Iterator[Callback]:
    with callback_server() as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def authorization_url(server: RunningServer, client: dict[str, Any], challenge: str, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "resource": server.mcp_url,
    }
    return f"{server.base_url}/authorize?{urlencode(query)}"


async def sign_in(page: Page, username: str, password: str) -> None:
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_and_allow_in_a_browser(
    oauth_server: Callable[..., RunningServer], callback: Callback, browser: Browser
) -> None:
    server = oauth_server("oauth")
    with httpx.Client(timeout=10) as http:
        client = register(
            http,
            server.base_url + "/register",
            auth_method="none",
            redirect_uris=(callback.redirect_uri,),
            client_name="Acme Desktop",
        )
    verifier, challenge = pkce_pair()
    state = "browser-state-42"

    context = await browser.new_context(viewport={"width": 900, "height": 760}, locale="en-US")
    page = await context.new_page()
    console_errors: list[str] = []
    page.on(
        "console", lambda message: console_errors.append(message.text) if message.type == "error" else None
    )

    response = await page.goto(authorization_url(server, client, challenge, state))
    assert response is not None and response.status == 200
    assert await page.title() == "Sign in · Bridgehead"
    assert "Acme Desktop" in await page.inner_text("main")
    await page.screenshot(path=str(SCREENSHOTS / "bridgehead-login.png"), full_page=True)

    # A wrong password first: the page says so and keeps the username.
    await sign_in(page, "alice", "not the password")
    await page.wait_for_selector("[role=alert]")
    assert "Wrong username or password" in await page.inner_text("[role=alert]")
    assert await page.get_by_label("Username").input_value() == "alice"
    await page.screenshot(path=str(SCREENSHOTS / "bridgehead-login-error.png"), full_page=True)

    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("text=Allow Acme Desktop?")
    assert await page.title() == "Allow access · Bridgehead"
    consent_text = await page.inner_text("main")
    assert "Signed in as alice" in consent_text
    assert "127.0.0.1" in consent_text  # where the browser will be sent
    for scope in server.settings.auth.default_scopes:
        assert scope in consent_text
    await page.screenshot(path=str(SCREENSHOTS / "bridgehead-consent.png"), full_page=True)

    async with page.expect_navigation(url=lambda url: url.startswith(callback.redirect_uri)):
        await page.get_by_role("button", name="Allow").click()
    landed = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert set(landed) == {"code", "state", "iss"}
    assert landed["state"] == state
    assert landed["iss"] == server.base_url
    assert callback.queries == [landed]
    assert "You can close this window" in await page.inner_text("h1")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors

    with httpx.Client(timeout=10) as http:
        tokens = exchange(http, server.base_url + "/token", client, landed["code"], verifier)
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["refresh_token"]
    await context.close()


async def test_deny_in_a_browser_goes_back_with_access_denied(
    oauth_server: Callable[..., RunningServer], callback: Callback, browser: Browser
) -> None:
    server = oauth_server("oauth")
    with httpx.Client(timeout=10) as http:
        client = register(
            http, server.base_url + "/register", auth_method="none", redirect_uris=(callback.redirect_uri,)
        )
    _, challenge = pkce_pair()
    page = await browser.new_page()
    await page.goto(authorization_url(server, client, challenge, "deny-state"))
    await sign_in(page, "rita", PASSWORD)
    await page.wait_for_selector("text=Signed in as")
    # A reader is only offered what the role may be granted.
    scopes = await page.locator(".scopes code").all_inner_texts()
    assert scopes == ["tools:read", "offline_access"]
    async with page.expect_navigation(url=lambda url: url.startswith(callback.redirect_uri)):
        await page.get_by_role("button", name="Deny").click()
    landed = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert landed["error"] == "access_denied" and landed["state"] == "deny-state"
    assert landed["iss"] == server.base_url
    await page.close()


@pytest.mark.parametrize("kind", ["ipv6-loopback", "private-use-scheme"])
async def test_allow_reaches_native_redirect_uris(
    oauth_server: Callable[..., RunningServer], browser: Browser, kind: str
) -> None:
    """Browsers apply the page's form-action to the redirect after Allow; registration accepts these
    redirect URIs (RFC 8252), so the consent page must let the browser follow them."""
    server = oauth_server("oauth")
    with contextlib.ExitStack() as stack:
        if kind == "ipv6-loopback":
            redirect_uri = stack.enter_context(callback_server("::1")).redirect_uri
        else:
            redirect_uri = "com.example.bridgehead-test:/oauth/callback"
        with httpx.Client(timeout=10) as http:
            client = register(
                http, server.base_url + "/register", auth_method="none", redirect_uris=(redirect_uri,)
            )
        _, challenge = pkce_pair()
        page = await browser.new_page()
        await page.goto(authorization_url(server, client, challenge, "native"))
        await sign_in(page, "alice", PASSWORD)
        await page.wait_for_selector("text=Signed in as")
        async with page.expect_request(lambda r: r.url.startswith(redirect_uri), timeout=10_000) as sent:
            await page.get_by_role("button", name="Allow").click()
        request = await sent.value
        landed = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        assert landed["state"] == "native" and landed["code"] and landed["iss"] == server.base_url
        await page.close()


async def test_pages_refuse_to_be_framed(
    oauth_server: Callable[..., RunningServer], callback: Callback, browser: Browser
) -> None:
    """A page on another origin that frames the login page gets nothing: X-Frame-Options and
    frame-ancestors both forbid it (clickjacking the Allow button)."""
    server = oauth_server("oauth")
    with httpx.Client(timeout=10) as http:
        client = register(
            http, server.base_url + "/register", auth_method="none", redirect_uris=(callback.redirect_uri,)
        )
    _, challenge = pkce_pair()
    target = authorization_url(server, client, challenge, "framed")
    page = await browser.new_page()
    framer = f"<!doctype html><iframe id=f src='{target}' width=600 height=400></iframe>"
    # Served as if from the callback server's origin (a different port is a different origin).
    await page.route(
        callback.redirect_uri.replace("/callback", "/framer"),
        lambda route: route.fulfill(body=framer, content_type="text/html"),
    )
    await page.goto(callback.redirect_uri.replace("/callback", "/framer"))
    await page.wait_for_timeout(500)
    frame = next(f for f in page.frames if f != page.main_frame)
    content = await frame.content()
    assert "Sign in" not in content and 'name="password"' not in content
    await page.close()
