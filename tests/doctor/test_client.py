"""The doctor's OAuth client: client authentication, PKCE, scope selection, redirect matching."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlsplit

from bridgehead.doctor.client import (
    RegisteredClient,
    authorization_request,
    choose_method,
    client_credentials,
    is_redirect_uri,
    pkce_challenge,
    same_origin,
    select_scope,
    step_up_scope,
    with_offline_access,
)


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_client_secret_basic_form_encodes_before_base64() -> None:
    client = RegisteredClient("id:1", "s e/c+ret", "client_secret_basic", "https://x/cb")
    headers, fields = client_credentials(client)
    assert fields == {}
    decoded = base64.b64decode(headers["authorization"].removeprefix("Basic ")).decode()
    assert decoded == "id%3A1:s%20e%2Fc%2Bret"


def test_client_secret_post_and_public_clients() -> None:
    post = RegisteredClient("id", "secret", "client_secret_post", "https://x/cb")
    assert client_credentials(post) == ({}, {"client_id": "id", "client_secret": "secret"})
    public = RegisteredClient("id", None, "none", "https://x/cb")
    assert client_credentials(public) == ({}, {"client_id": "id"})


# -- scope selection (MCP authorization spec; SEP-2207, SEP-2350) -----------------------------------

PRM = {"resource": "https://a/mcp", "authorization_servers": ["https://a"], "scopes_supported": ["r", "w"]}


def test_scope_from_the_challenge_first_then_the_resource_metadata_else_none() -> None:
    assert select_scope("x", PRM, None) == "x"
    assert select_scope(None, PRM, None) == "r w"
    assert select_scope(None, {"resource": "https://a/mcp"}, {"scopes_supported": ["r", "w"]}) is None
    assert select_scope(None, None, None) is None


def test_offline_access_exactly_when_the_authorization_server_lists_it() -> None:
    assert select_scope(None, PRM, {"scopes_supported": ["r", "w", "offline_access"]}) == "r w offline_access"
    assert select_scope("r offline_access", PRM, {"scopes_supported": ["r"]}) == "r"
    assert select_scope("r offline_access", PRM, {}) == "r offline_access"  # nothing said: left as asked
    assert with_offline_access(None, {"scopes_supported": ["offline_access"]}) is None


def test_step_up_asks_for_what_it_had_plus_the_challenge() -> None:
    assert (
        step_up_scope("r offline_access", "r w", {"scopes_supported": ["offline_access"]})
        == "r offline_access w"
    )
    assert step_up_scope(None, "admin", None) == "admin"


def test_token_endpoint_method_as_asked_when_offered_else_what_is_offered() -> None:
    assert choose_method("client_secret_basic", None) == "client_secret_basic"  # RFC 8414 default
    assert choose_method("client_secret_basic", ["client_secret_post", "none"]) == "client_secret_post"
    assert choose_method("client_secret_basic", ["none"]) == "none"
    assert choose_method("client_secret_basic", ["private_key_jwt"]) == "client_secret_basic"


def test_redirect_uri_matching_is_exact_up_to_the_query() -> None:
    uri = "https://chatgpt.com/connector_platform_oauth_redirect"
    assert is_redirect_uri(uri + "?code=c&state=s", uri)
    assert is_redirect_uri("https://ChatGPT.com:443/connector_platform_oauth_redirect?code=c", uri)
    assert not is_redirect_uri("https://chatgpt.com/connector_platform_oauth_redirect/x?code=c", uri)
    assert not is_redirect_uri("https://chatgpt.com.evil.example/connector_platform_oauth_redirect", uri)
    assert not is_redirect_uri("http://chatgpt.com/connector_platform_oauth_redirect", uri)
    assert same_origin("https://chatgpt.com/elsewhere", uri)
    assert not same_origin("http://127.0.0.1:1/callback", "http://127.0.0.1:2/callback")


def test_authorization_request_carries_pkce_state_and_resource() -> None:
    client = RegisteredClient("id", None, "none", "http://127.0.0.1:9/callback")
    request = authorization_request("https://a/authorize?tenant=t", client, None, "https://a/mcp")
    query = dict(parse_qsl(urlsplit(request.url).query))
    assert query["tenant"] == "t" and "scope" not in query
    assert (
        query["code_challenge"] == pkce_challenge(request.verifier)
        and query["code_challenge_method"] == "S256"
    )
    assert query["state"] == request.state and query["resource"] == "https://a/mcp"
    empty = authorization_request("https://a/authorize", client, "", "https://a/mcp")
    assert dict(parse_qsl(urlsplit(empty.url).query, keep_blank_values=True))["scope"] == ""
