"""The official MCP Python SDK's OAuth client (``mcp.client.auth.OAuthClientProvider``) against a
real ``bridgehead serve`` process in oauth mode.

The SDK does discovery (401 → protected resource metadata → authorization server metadata),
dynamic registration, PKCE, the token exchange, refresh and scope step-up itself; the test only
plays the person at the browser: its redirect handler follows the authorization URL with httpx,
fills in Bridgehead's login and consent forms, and hands the code, state and iss from the
redirect back through the callback handler.

Each test runs against the configurations of /mcp (tests/interop/paths.py) with the client in
two modes: ``legacy`` (the initialize handshake, whose hot requests the fast path answers) and
``auto`` (the SDK's default, the 2026-07-28 per-request envelope, which the fast path leaves to
the SDK transport). Each checks which path answered its tools/list and tools/call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.exceptions import MCPError

from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import form_fields
from tests.interop.conftest import BridgeheadPool, ServedBridgehead
from tests.interop.paths import DEFAULT, FAST_PATH, SDK_PATH, MCPPath, check_answered_by, hot_requests

# Never contacted: the "browser" reads the code from the redirect's Location header.
REDIRECT_URI = "http://127.0.0.1:33418/callback"

CONFIG = """
[store]
url = "{store}"

[auth]
mode = "oauth"
# The first token carries tools:read only; fetch needs tools:write, so calling it makes the
# SDK step up (403 insufficient_scope → a second authorization with the wider scope).
default_scopes = ["tools:read", "offline_access"]

[auth.tool_scopes]
fetch = ["tools:write"]
"""


def _prepare(workdir: Path) -> str:
    store = f"sqlite+aiosqlite:///{workdir / 'auth.db'}"
    add_user(store, "alice", "member")
    return CONFIG.format(store=store)


@pytest.fixture(scope="module")
def oauth_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeheadPool]:
    """Bridgehead in oauth mode, one process per configuration of /mcp."""
    with ExitStack() as stack:
        yield BridgeheadPool(stack, tmp_path_factory, "sdk-oauth", _prepare)


@dataclass(frozen=True)
class Target:
    """A server, the client mode to reach it with, and how many requests the server had handled before."""

    served: ServedBridgehead
    mode: str
    handled_before: int

    @property
    def mcp_url(self) -> str:
        return self.served.mcp_url

    def client(self, http: httpx2.AsyncClient) -> Client:
        return Client(streamable_http_client(self.served.mcp_url, http_client=http), mode=self.mode)

    def check_path(self) -> None:
        """The test's hot requests took the fast path exactly when it applies."""
        fast = self.served.mcp_path.fast and self.mode == "legacy"
        hot = hot_requests(self.served.handled()[self.handled_before :])
        check_answered_by(fast, f"{self.served.mcp_path.id}, {self.mode} client", hot)


TARGETS: list[tuple[MCPPath, str]] = [
    (DEFAULT, "auto"),
    (SDK_PATH, "legacy"),
    (FAST_PATH, "legacy"),
    (FAST_PATH, "auto"),
]


@pytest.fixture(params=TARGETS, ids=[f"{path.id}-{mode}" for path, mode in TARGETS])
def target(request: pytest.FixtureRequest, oauth_servers: BridgeheadPool) -> Target:
    path, mode = request.param
    running = oauth_servers[path]
    return Target(running, mode, len(running.handled()))


@dataclass
class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Browser:
    """The person at the browser: signs in when asked, allows, and reports where it was sent."""

    username: str
    authorization_urls: list[str] = field(default_factory=list)
    consented_scopes: list[list[str]] = field(default_factory=list)
    result: AuthorizationCodeResult | None = None
    http: httpx.AsyncClient = field(
        default_factory=lambda: httpx.AsyncClient(timeout=15, follow_redirects=False)
    )

    async def open(self, authorization_url: str) -> None:
        """The SDK's redirect handler."""
        self.authorization_urls.append(authorization_url)
        page = await self.http.get(authorization_url)
        assert page.status_code == 200, page.text
        if 'name="password"' in page.text:  # not signed in yet in this browser
            page = await self.http.post(
                page.url.join("/login"),
                data={**form_fields(page.text), "username": self.username, "password": PASSWORD},
            )
            assert page.status_code == 200, page.text
        assert "Allow" in page.text, page.text
        self.consented_scopes.append(sorted(set(_scopes_on(page.text))))
        redirect = await self.http.post(
            page.url.join("/consent"), data={**form_fields(page.text), "decision": "allow"}
        )
        assert redirect.status_code == 302, redirect.text
        location = redirect.headers["location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        self.result = AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )

    async def callback(self) -> AuthorizationCodeResult:
        """The SDK's callback handler."""
        assert self.result is not None, "the redirect handler did not finish"
        result, self.result = self.result, None
        return result


def _scopes_on(consent_html: str) -> list[str]:
    return re.findall(r"<code>([^<]+)</code>", consent_html)


def provider_for(
    target: Target, browser: Browser, auth_method: str
) -> tuple[OAuthClientProvider, MemoryStorage]:
    storage = MemoryStorage()
    metadata = OAuthClientMetadata(
        client_name="MCP Python SDK interop test",
        redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method=auth_method,  # type: ignore[arg-type]
    )
    provider = OAuthClientProvider(
        server_url=target.mcp_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    return provider, storage


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post", "none"])
async def test_sdk_oauth_client_links_lists_calls_and_refreshes(target: Target, auth_method: str) -> None:
    browser = Browser("alice")
    provider, storage = provider_for(target, browser, auth_method)
    async with (
        browser.http,
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        target.client(http) as client,
    ):
        # The first request got a 401; the SDK discovered, registered and authorized.
        assert len(browser.authorization_urls) == 1
        first = parse_qs(urlsplit(browser.authorization_urls[0]).query)
        assert first["resource"] == [target.mcp_url]
        assert first["code_challenge_method"] == ["S256"]
        assert storage.client_info is not None
        assert storage.client_info.token_endpoint_auth_method == auth_method
        assert (storage.client_info.client_secret is None) == (auth_method == "none")
        assert storage.tokens is not None and storage.tokens.refresh_token
        assert set((storage.tokens.scope or "").split()) == {"tools:read", "offline_access"}

        listed = await client.list_tools()
        assert {t.name for t in listed.tools} == {"search", "fetch"}
        found = await client.call_tool("search", {"query": "parental leave"})
        assert not found.is_error, found
        assert found.structured_content is not None and found.structured_content["results"]

        # Expire the access token on the client side: the SDK refreshes (Bridgehead rotates the
        # refresh token) and carries on without asking the person again.
        before = storage.tokens
        provider.context.token_expiry_time = time.time() - 1
        again = await client.call_tool("search", {"query": "travel"})
        assert not again.is_error
        assert storage.tokens.access_token != before.access_token
        assert storage.tokens.refresh_token and storage.tokens.refresh_token != before.refresh_token
        assert len(browser.authorization_urls) == 1
    target.check_path()


async def test_sdk_oauth_client_steps_up_on_insufficient_scope(target: Target) -> None:
    browser = Browser("alice")
    provider, storage = provider_for(target, browser, "client_secret_basic")
    failure: MCPError | None = None
    async with (
        browser.http,
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        target.client(http) as client,
    ):
        found = await client.call_tool("search", {"query": "parental leave"})
        assert found.structured_content is not None
        document_id = found.structured_content["results"][0]["id"]
        # fetch needs tools:write: Bridgehead answers 403 insufficient_scope naming it, the SDK
        # authorizes again with the wider scope (the browser is still signed in, so only the
        # consent page shows) and retries.
        try:
            fetched = await client.call_tool("fetch", {"id": document_id})
            assert not fetched.is_error, fetched
        except MCPError as exc:  # raised again below, outside the client's task groups
            failure = exc
    assert len(browser.authorization_urls) == 2
    assert "tools:write" in parse_qs(urlsplit(browser.authorization_urls[1]).query)["scope"][0].split()
    if failure is not None:
        raise failure
    assert storage.tokens is not None and "tools:write" in (storage.tokens.scope or "").split()
    target.check_path()


async def test_sdk_oauth_client_reuses_stored_credentials(target: Target) -> None:
    """A second connection with the stored client and tokens needs no browser at all."""
    browser = Browser("alice")
    provider, storage = provider_for(target, browser, "client_secret_basic")
    async with (
        browser.http,
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        target.client(http) as client,
    ):
        await client.list_tools()
    assert len(browser.authorization_urls) == 1

    second_browser = Browser("alice")
    second, _ = provider_for(target, second_browser, "client_secret_basic")
    second.context.storage = storage
    async with (
        second_browser.http,
        httpx2.AsyncClient(auth=second, timeout=30) as http,
        target.client(http) as client,
    ):
        result = await client.call_tool("search", {"query": "security"})
        assert not result.is_error
    assert second_browser.authorization_urls == []
    target.check_path()
