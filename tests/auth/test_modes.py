"""The auth modes as an MCP client sees them: mixed (open listing, per-tool security schemes) and
oauth (401 challenges, role-based tool filtering, 403 insufficient_scope)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bridgehead.auth.users import UserStore
from bridgehead.store import Database
from tests.auth.conftest import PASSWORD
from tests.auth.flow import obtain_tokens
from tests.conftest import RunningServer, run_coroutine

PROTOCOL_VERSION = "2025-06-18"
_ids = itertools.count(1)


class McpSession:
    """A minimal Streamable HTTP client over httpx, to see raw statuses, headers and ``_meta``."""

    def __init__(self, server: RunningServer, token: str | None = None) -> None:
        self.url = server.mcp_url
        self.headers = {
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": PROTOCOL_VERSION,
        }
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.http = httpx.Client(timeout=15)

    def post(self, message: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.url, json=message, headers=self.headers)

    def request(self, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self.post({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params or {}})

    def rpc(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its JSON-RPC result (from a JSON or an SSE response)."""
        response = self.request(method, params)
        assert response.status_code == 200, (response.status_code, response.text)
        message = read_message(response)
        assert "result" in message, message
        result: dict[str, Any] = message["result"]
        return result

    def initialize(self) -> dict[str, Any]:
        response = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bridgehead-mode-tests", "version": "1"},
            },
        )
        assert response.status_code == 200, (response.status_code, response.text)
        session_id = response.headers.get("mcp-session-id")
        if session_id:
            self.headers["mcp-session-id"] = session_id
        initialized = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert initialized.status_code in (200, 202), initialized.text
        result: dict[str, Any] = read_message(response)["result"]
        return result

    def tools(self) -> dict[str, dict[str, Any]]:
        return {tool["name"]: tool for tool in self.rpc("tools/list")["tools"]}

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.rpc("tools/call", {"name": name, "arguments": arguments})

    def close(self) -> None:
        self.http.close()


def read_message(response: httpx.Response) -> dict[str, Any]:
    if response.headers["content-type"].startswith("application/json"):
        body: dict[str, Any] = response.json()
        return body
    for line in response.text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            message: dict[str, Any] = json.loads(line[5:])
            if "id" in message:
                return message
    raise AssertionError(f"no JSON-RPC response in {response.text!r}")


def session(server: RunningServer, token: str | None = None) -> McpSession:
    mcp = McpSession(server, token)
    mcp.initialize()
    return mcp


def token_for(server: RunningServer, username: str, scope: str | None = None) -> dict[str, Any]:
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        return obtain_tokens(http, server.base_url, username, PASSWORD, scope=scope)


def first_document_id(mcp: McpSession) -> str:
    result = mcp.call("search", {"query": "travel policy"})
    assert not result.get("isError"), result
    document_id: str = result["structuredContent"]["results"][0]["id"]
    return document_id


def challenge_params(challenge: str) -> dict[str, str]:
    assert challenge.startswith("Bearer "), challenge
    return dict(re.findall(r'(\w+)="([^"]*)"', challenge))


PRM_PATH = "/.well-known/oauth-protected-resource/mcp"
OAUTH_READ = {"type": "oauth2", "scopes": ["tools:read"]}


# -- mixed mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("noauth_tools", "search_schemes", "fetch_schemes"),
    [
        (None, [{"type": "noauth"}, OAUTH_READ], [{"type": "noauth"}, OAUTH_READ]),
        ([], [OAUTH_READ], [OAUTH_READ]),
        (["search"], [{"type": "noauth"}, OAUTH_READ], [OAUTH_READ]),
    ],
)
def test_mixed_mode_lists_tools_with_their_security_schemes_without_a_token(
    oauth_server: Callable[..., RunningServer],
    noauth_tools: list[str] | None,
    search_schemes: list[dict[str, Any]],
    fetch_schemes: list[dict[str, Any]],
) -> None:
    auth = {} if noauth_tools is None else {"noauth_tools": noauth_tools}
    server = oauth_server("mixed", auth=auth)
    mcp = session(server)
    try:
        tools = mcp.tools()
        assert set(tools) == {"search", "fetch"}
        assert tools["search"]["_meta"]["securitySchemes"] == search_schemes
        assert tools["fetch"]["_meta"]["securitySchemes"] == fetch_schemes
    finally:
        mcp.close()


def test_mixed_mode_oauth_only_tool_needs_a_token(oauth_server: Callable[..., RunningServer]) -> None:
    server = oauth_server("mixed", auth={"noauth_tools": ["search"]})
    anonymous = session(server)
    try:
        document_id = first_document_id(anonymous)  # search is open
        denied = anonymous.call("fetch", {"id": document_id})
        assert denied["isError"] is True
        challenges = denied["_meta"]["mcp/www_authenticate"]
        assert isinstance(challenges, list) and len(challenges) == 1
        params = challenge_params(challenges[0])
        assert params["resource_metadata"] == server.base_url + PRM_PATH
        assert params["error"] and params["error_description"]
        assert "sign in" in denied["content"][0]["text"].lower()
    finally:
        anonymous.close()

    tokens = token_for(server, "alice")
    authed = session(server, tokens["access_token"])
    try:
        fetched = authed.call("fetch", {"id": document_id})
        assert not fetched.get("isError"), fetched
        assert fetched["structuredContent"]["id"] == document_id
    finally:
        authed.close()

    # In mixed mode a token is optional, but a bad one is still refused outright.
    response = McpSession(server, "not-a-token").request("tools/list")
    assert response.status_code == 401
    assert challenge_params(response.headers["www-authenticate"])["error"] == "invalid_token"


# -- oauth mode ----------------------------------------------------------------------------------


def test_oauth_mode_needs_a_token(oauth_server: Callable[..., RunningServer]) -> None:
    server = oauth_server("oauth")
    for method in ("initialize", "tools/list", "tools/call"):
        response = McpSession(server).request(method)
        assert response.status_code == 401, response.text
        challenge = response.headers["www-authenticate"]
        assert re.fullmatch(r'Bearer resource_metadata="[^"]+", scope="[^"]+"', challenge), challenge
        params = challenge_params(challenge)
        assert params["resource_metadata"] == server.base_url + PRM_PATH
        assert params["scope"].split() == server.settings.auth.default_scopes
    tokens = token_for(server, "alice")
    mcp = session(server, tokens["access_token"])
    try:
        assert set(mcp.tools()) == {"search", "fetch"}
        assert all(t["_meta"]["securitySchemes"] == [OAUTH_READ] for t in mcp.tools().values())
    finally:
        mcp.close()


ROLES: dict[str, dict[str, list[str]]] = {
    "admin": {},
    "member": {},
    "reader": {"scopes": ["tools:read", "offline_access"]},
    "searcher": {"tools": ["search"], "scopes": ["tools:read", "offline_access"]},
}
# fetch needs tools:write; readers can never be granted it; searchers may only see search.
RBAC = {"tool_scopes": {"fetch": ["tools:write"]}, "roles": ROLES}


@pytest.fixture
def rbac_server(oauth_server: Callable[..., RunningServer]) -> RunningServer:
    server = oauth_server("oauth", auth=RBAC)

    async def add_searcher() -> None:
        database = Database(server.settings.store_url())
        try:
            await UserStore(database, set(ROLES)).add("sam", PASSWORD, "searcher")
        finally:
            await database.close()

    run_coroutine(add_searcher())
    return server


def test_insufficient_scope_is_a_403_naming_the_scope(rbac_server: RunningServer) -> None:
    # alice may use fetch, but her token was granted tools:read only.
    narrow = token_for(rbac_server, "alice", scope="tools:read offline_access")
    mcp = session(rbac_server, narrow["access_token"])
    try:
        tools = mcp.tools()
        assert tools["fetch"]["_meta"]["securitySchemes"] == [{"type": "oauth2", "scopes": ["tools:write"]}]
        document_id = first_document_id(mcp)
        response = mcp.request("tools/call", {"name": "fetch", "arguments": {"id": document_id}})
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "insufficient_scope"
        params = challenge_params(response.headers["www-authenticate"])
        assert params["error"] == "insufficient_scope"
        assert "tools:write" in params["scope"].split()
        assert params["resource_metadata"] == rbac_server.base_url + PRM_PATH
        assert "tools:write" in params["error_description"]
    finally:
        mcp.close()

    # A reader's token never carries tools:write, even when asked for it. Signing in again could
    # never help, so the call is a plain denial (a tool error), not a step-up challenge.
    rita = token_for(rbac_server, "rita", scope="tools:read tools:write offline_access")
    assert rita["scope"].split() == ["tools:read", "offline_access"]
    mcp = session(rbac_server, rita["access_token"])
    try:
        response = mcp.request("tools/call", {"name": "fetch", "arguments": {"id": document_id}})
        assert response.status_code == 200, response.text
        assert "www-authenticate" not in response.headers
        denied = mcp.call("fetch", {"id": document_id})
        assert denied["isError"] is True
        assert "can never be granted" in denied["content"][0]["text"]
        assert "mcp/www_authenticate" not in (denied.get("_meta") or {})
    finally:
        mcp.close()

    # With the scope, the same call succeeds.
    wide = token_for(rbac_server, "alice")
    mcp = session(rbac_server, wide["access_token"])
    try:
        assert not mcp.call("fetch", {"id": document_id}).get("isError")
    finally:
        mcp.close()


def test_roles_filter_the_tools_a_user_sees_and_calls(rbac_server: RunningServer) -> None:
    tokens = token_for(rbac_server, "sam")
    mcp = session(rbac_server, tokens["access_token"])
    try:
        assert set(mcp.tools()) == {"search"}
        document_id = first_document_id(mcp)
        refused = mcp.call("fetch", {"id": document_id})
        assert refused["isError"] is True
        assert "searcher" in refused["content"][0]["text"]
        # No token would help, so no challenge asks the client to sign in again.
        assert "mcp/www_authenticate" not in (refused.get("_meta") or {})
    finally:
        mcp.close()


def test_mixed_mode_challenge_names_the_public_base_url(oauth_server: Callable[..., RunningServer]) -> None:
    public = "https://bridgehead.example.com"
    server = oauth_server(
        "mixed",
        auth={"noauth_tools": ["search"]},
        server={"public_base_url": public},
    )
    mcp = session(server)
    try:
        denied = mcp.call("fetch", {"id": "anything"})
        params = challenge_params(denied["_meta"]["mcp/www_authenticate"][0])
        assert params["resource_metadata"] == public + PRM_PATH
    finally:
        mcp.close()
