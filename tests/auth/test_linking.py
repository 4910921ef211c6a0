"""The ways linking a server to ChatGPT is known to fail, each one handled by Bridgehead.

Issuer identification (RFC 9207) without trailing-slash drift, both forms of ChatGPT's redirect URI,
scopes as ChatGPT sends them (none at all on reconnect), registrations that last, the token audience
bound to the connector URL, and protocol paths that never redirect. (Client ID Metadata Documents have
their own file, test_cimd.py.)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from bridgehead.auth.clients import ClientStore
from bridgehead.store import Database
from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import (
    CHATGPT_REDIRECT,
    LinkedClient,
    authorization_params,
    authorize,
    consent,
    exchange,
    pkce_pair,
    redirect_query,
    refresh,
    register,
    sign_in,
)
from tests.conftest import RunningServer, run_coroutine

CALLBACK_REDIRECT = "https://chatgpt.com/connector/oauth/" + "cb_" + secrets.token_hex(6)
PUBLIC = "https://bridgehead.example.com"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        yield client


def metadata_of(http: httpx.Client, server: RunningServer) -> dict[str, Any]:
    document: dict[str, Any] = http.get(server.base_url + "/.well-known/oauth-authorization-server").json()
    return document


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def code_flow(
    http: httpx.Client,
    server: RunningServer,
    client: dict[str, Any],
    *,
    username: str = "alice",
    resource: str | None = None,
    token_resource: str | None = None,
    redirect_uri: str | None = None,
) -> httpx.Response:
    """Authorize (naming ``resource`` if given), sign in, allow and exchange (naming ``token_resource``
    if given): the token response."""
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=resource, redirect_uri=redirect_uri)
    query = authorize(http, server.base_url + "/authorize", params, username, PASSWORD)
    extra = {"resource": token_resource} if token_resource else {}
    return exchange(
        http, server.base_url + "/token", client, query["code"], verifier, redirect_uri=redirect_uri, **extra
    )


# -- RFC 9207: iss on every redirect, byte-for-byte the issuer --------------------------------------


def test_iss_is_the_issuer_on_every_redirect_even_with_a_trailing_slash(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth", server={"public_base_url": PUBLIC + "/"})
    metadata = metadata_of(http, server)
    issuer = metadata["issuer"]
    assert issuer == PUBLIC  # no trailing slash, whatever the configuration says
    prm = http.get(server.base_url + "/.well-known/oauth-protected-resource/mcp").json()
    assert prm["authorization_servers"] == [issuer]
    client = register(http, server.base_url + "/register")
    authorize_url = server.base_url + "/authorize"

    # Success.
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="ok", resource=PUBLIC + "/mcp")
    query = authorize(http, authorize_url, params, "alice", PASSWORD)
    assert query["iss"] == issuer and query["state"] == "ok"
    tokens = exchange(http, server.base_url + "/token", client, query["code"], verifier).json()
    assert claims_of(tokens["access_token"])["iss"] == issuer

    # An error found after the redirect URI is trusted.
    _, challenge = pkce_pair()
    bad = {**authorization_params(client, challenge, state="err", resource=None), "response_type": "token"}
    query = redirect_query(http.get(authorize_url, params=bad), CHATGPT_REDIRECT)
    assert query["error"] == "unsupported_response_type" and query["iss"] == issuer

    # The user says no.
    params = authorization_params(client, challenge, state="no", resource=None)
    consent_page = sign_in(http, http.get(authorize_url, params=params), "alice", PASSWORD)
    query = redirect_query(consent(http, consent_page, "deny"), CHATGPT_REDIRECT)
    assert query["error"] == "access_denied" and query["iss"] == issuer and query["state"] == "no"


# -- ChatGPT's two redirect URIs ------------------------------------------------------------------


def test_both_chatgpt_redirect_uris_work_and_match_exactly(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth")
    client = register(
        http, server.base_url + "/register", redirect_uris=(CHATGPT_REDIRECT, CALLBACK_REDIRECT)
    )
    for uri in (CHATGPT_REDIRECT, CALLBACK_REDIRECT):
        response = code_flow(http, server, client, redirect_uri=uri)
        assert response.status_code == 200, response.text
    near_misses = [
        CHATGPT_REDIRECT + "/",
        CHATGPT_REDIRECT.replace("https://", "http://"),
        CHATGPT_REDIRECT.replace("chatgpt.com", "chatgpt.com.evil.example"),
        CALLBACK_REDIRECT + "x",
        "https://chatgpt.com/connector/oauth/",
        CALLBACK_REDIRECT.upper(),
    ]
    _, challenge = pkce_pair()
    for uri in near_misses:
        params = authorization_params(client, challenge, state="s", resource=None, redirect_uri=uri)
        page = http.get(server.base_url + "/authorize", params=params)
        assert page.status_code == 400 and "location" not in page.headers, uri
        assert "does not exactly match" in page.text
    # A client that registered only the callback form is sent back there without naming it.
    only = register(http, server.base_url + "/register", redirect_uris=(CALLBACK_REDIRECT,))
    params = authorization_params(only, challenge, state="s", resource=None)
    del params["redirect_uri"]
    consent_page = sign_in(http, http.get(server.base_url + "/authorize", params=params), "alice", PASSWORD)
    assert redirect_query(consent(http, consent_page), CALLBACK_REDIRECT)["code"]


# -- scopes ----------------------------------------------------------------------------------------


def test_oidc_scopes_are_accepted_when_advertised(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth")
    metadata = metadata_of(http, server)
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    client = register(http, server.base_url + "/register")
    for scope in ("openid email profile", "openid email profile offline_access tools:read"):
        verifier, challenge = pkce_pair()
        params = authorization_params(client, challenge, state="s", resource=None, scope=scope)
        query = authorize(http, server.base_url + "/authorize", params, "alice", PASSWORD)
        assert "error" not in query
        response = exchange(http, server.base_url + "/token", client, query["code"], verifier)
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert set(tokens["scope"].split()) == set(scope.split())
        identity = claims_of(tokens["id_token"])
        assert identity["aud"] == client["client_id"] and identity["preferred_username"] == "alice"


def test_every_advertised_scope_can_be_granted(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth")
    add_user(server.settings.store_url(), "ada", "admin")
    advertised = metadata_of(http, server)["scopes_supported"]
    prm = http.get(server.base_url + "/.well-known/oauth-protected-resource/mcp").json()
    assert prm["scopes_supported"] == advertised
    client = register(http, server.base_url + "/register")
    verifier, challenge = pkce_pair()
    params = authorization_params(client, challenge, state="s", resource=None, scope=" ".join(advertised))
    query = authorize(http, server.base_url + "/authorize", params, "ada", PASSWORD)
    tokens = exchange(http, server.base_url + "/token", client, query["code"], verifier).json()
    assert sorted(tokens["scope"].split()) == sorted(advertised)


def test_scopes_no_role_can_hold_are_not_advertised_and_no_scope_is_never_an_error(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server(
        "oauth",
        auth={
            "roles": {
                "member": {"scopes": ["tools:read", "offline_access"]},
                "reader": {"scopes": ["tools:read"]},
            },
            "tool_scopes": {"fetch": ["docs:confidential"]},
        },
    )
    advertised = set(metadata_of(http, server)["scopes_supported"])
    assert advertised == {"tools:read", "offline_access", "openid", "email", "profile"}
    client = register(http, server.base_url + "/register")
    for scope in (None, "", " "):
        # auth.default_scopes still lists tools:write, which nobody can get: dropped, not an error.
        verifier, challenge = pkce_pair()
        params = authorization_params(client, challenge, state="s", resource=None, scope=scope)
        query = authorize(http, server.base_url + "/authorize", params, "alice", PASSWORD)
        assert "error" not in query, query
        tokens = exchange(http, server.base_url + "/token", client, query["code"], verifier).json()
        assert tokens["scope"].split() == ["tools:read", "offline_access"]
        assert tokens["refresh_token"]


# -- registrations that last ----------------------------------------------------------------------


def test_registrations_last_and_abandoned_flows_break_nothing(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth")
    token_url = server.base_url + "/token"
    first = register(http, server.base_url + "/register")
    assert first["client_secret_expires_at"] == 0  # a secret that does not expire
    # ChatGPT retries registration with the same metadata: a second client, the first one unharmed.
    second = register(http, server.base_url + "/register")
    assert second["client_id"] != first["client_id"]

    # Half-finished flows with the first client: a login page left open, a consent page left
    # open, a code never redeemed, a code redeemed with the wrong verifier.
    _, challenge = pkce_pair()
    params = authorization_params(first, challenge, state="abandon", resource=None)
    assert http.get(server.base_url + "/authorize", params=params).status_code == 200
    with httpx.Client(timeout=10, follow_redirects=False) as other_browser:
        sign_in(
            other_browser, other_browser.get(server.base_url + "/authorize", params=params), "alice", PASSWORD
        )
    authorize(http, server.base_url + "/authorize", params, "alice", PASSWORD)
    _, wrong_verifier = pkce_pair()
    query = authorize(http, server.base_url + "/authorize", params, "alice", PASSWORD)
    failed = exchange(http, token_url, first, query["code"], wrong_verifier)
    assert failed.status_code == 400

    for client in (second, first):
        response = code_flow(http, server, client)
        assert response.status_code == 200, response.text
        linked = LinkedClient(
            client["client_id"], client["client_secret"], "client_secret_basic", response.json()
        )
        renewed = refresh(http, token_url, linked, linked.tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text

    # Until an administrator revokes it.
    async def revoke() -> bool:
        database = Database(server.settings.store_url())
        try:
            return await ClientStore(database, supported_scopes=[]).revoke(first["client_id"])
        finally:
            await database.close()

    assert run_coroutine(revoke())
    refused = refresh(http, token_url, linked, renewed.json()["refresh_token"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert "revoked" in refused.json()["error_description"]
    page = http.get(
        server.base_url + "/authorize",
        params=authorization_params(first, challenge, state="s", resource=None),
    )
    assert page.status_code == 400 and "revoked" in page.text
    assert code_flow(http, server, second).status_code == 200


# -- audience -----------------------------------------------------------------------------------


def test_the_token_audience_is_the_resource_asked_for(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth")
    base = server.base_url
    client = register(http, base + "/register")
    for resource in (base + "/mcp", base + "/mcp/", base, base + "/", base + "/sse"):
        response = code_flow(http, server, client, resource=resource, token_resource=resource)
        assert response.status_code == 200, (resource, response.text)
        tokens = response.json()
        assert claims_of(tokens["access_token"])["aud"] == resource
        initialized = http.post(
            server.mcp_url,
            json=INITIALIZE,
            headers={**MCP_HEADERS, "authorization": f"Bearer {tokens['access_token']}"},
        )
        assert initialized.status_code == 200, initialized.text
        linked = LinkedClient(client["client_id"], client["client_secret"], "client_secret_basic", tokens)
        renewed = refresh(http, base + "/token", linked, tokens["refresh_token"]).json()
        assert claims_of(renewed["access_token"])["aud"] == resource
    # Scheme and host in upper case name the same resource (MCP 2025-11-25 asks servers to accept that).
    shouted = base.replace("http://127.0.0.1", "HTTP://127.0.0.1") + "/mcp"
    response = code_flow(http, server, client, resource=shouted, token_resource=shouted)
    assert claims_of(response.json()["access_token"])["aud"] == base + "/mcp"


def test_the_token_request_decides_when_the_authorization_request_did_not(
    oauth_server: Callable[..., RunningServer], http: httpx.Client
) -> None:
    server = oauth_server("oauth")
    base = server.base_url
    client = register(http, base + "/register")
    response = code_flow(http, server, client, resource=None, token_resource=base + "/mcp/")
    assert claims_of(response.json()["access_token"])["aud"] == base + "/mcp/"
    response = code_flow(http, server, client, resource=None)
    assert claims_of(response.json()["access_token"])["aud"] == base + "/mcp"
    # Bound at /authorize: /token may repeat it but not change it.
    mismatch = code_flow(http, server, client, resource=base + "/mcp", token_resource=base + "/mcp/")
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_target"
    foreign = code_flow(http, server, client, resource=None, token_resource="https://other.example/mcp")
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_target"


@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/sse", "/sse/"])
def test_protected_resource_metadata_names_the_url_the_user_pasted(
    oauth_server: Callable[..., RunningServer], http: httpx.Client, path: str
) -> None:
    server = oauth_server("oauth")
    url = server.base_url + path
    denied = (
        http.get(url) if path.startswith("/sse") else http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
    )
    assert denied.status_code == 401
    challenge = denied.headers["www-authenticate"]
    metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
    assert metadata_url == server.base_url + "/.well-known/oauth-protected-resource" + path
    prm = http.get(metadata_url).json()
    assert prm["resource"] == url
    # The token ChatGPT then gets for that resource works on every transport of the server.
    client = register(http, server.base_url + "/register")
    tokens = code_flow(http, server, client, resource=url, token_resource=url).json()
    assert claims_of(tokens["access_token"])["aud"] == url
    authed = {**MCP_HEADERS, "authorization": f"Bearer {tokens['access_token']}"}
    assert http.post(server.mcp_url, json=INITIALIZE, headers=authed).status_code == 200


# -- no redirects on protocol paths -----------------------------------------------------------------

WELL_KNOWN = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource/sse",
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
]
PROTOCOL = ["/mcp", "/mcp/", "/sse", "/sse/", "/messages", "/messages/"]
REDIRECTS = {301, 302, 303, 307, 308}


@pytest.mark.parametrize("mode", ["none", "oauth", "mixed"])
def test_protocol_paths_answer_directly(
    oauth_server: Callable[..., RunningServer], server_factory: Callable[..., RunningServer], mode: str
) -> None:
    server = (
        oauth_server(mode, server={"public_base_url": PUBLIC + "/"}) if mode != "none" else server_factory()
    )
    answered: dict[str, int] = {}
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        for path in PROTOCOL + WELL_KNOWN + [p + "/" for p in WELL_KNOWN]:
            for method in ("GET", "POST"):
                body = INITIALIZE if method == "POST" else None
                with http.stream(method, server.base_url + path, json=body, headers=MCP_HEADERS) as response:
                    answered[f"{method} {path}"] = response.status_code
    redirected = {request: status for request, status in answered.items() if status in REDIRECTS}
    assert not redirected, redirected
    if mode != "none":
        # The discovery documents themselves, in every variant, are there (GET) — not elsewhere.
        missing = {r: s for r, s in answered.items() if r.startswith("GET /.well-known") and s != 200}
        assert not missing, missing
        assert answered["GET /mcp/.well-known/openid-configuration"] == 200
