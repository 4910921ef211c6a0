"""The linking flow ChatGPT performs, end to end and headless, then MCP calls with the token."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.auth.conftest import PASSWORD
from tests.auth.document_host import DocumentHost, document_host
from tests.auth.flow import discover, link, refresh
from tests.conftest import RunningServer

# (how the client identifies itself, how it authenticates at the token endpoint)
WAYS = [
    ("registration", "client_secret_basic"),
    ("registration", "client_secret_post"),
    ("registration", "none"),
    ("metadata document", "none"),
    ("metadata document", "private_key_jwt"),
]


@pytest.mark.parametrize(("identity", "method"), WAYS)
async def test_chatgpt_linking_flow(
    oauth_server: Callable[..., RunningServer], identity: str, method: str
) -> None:
    """Dynamic registration, or a Client ID Metadata Document served on 127.0.0.1 (which needs the
    loopback switch; it is off by default), then the same linking flow, MCP calls and refresh."""
    cimd = identity == "metadata document"
    server = oauth_server("oauth", auth={"cimd_allow_insecure_loopback": cimd})
    with document_host() as documents:
        await link_and_use(server, method, documents if cimd else None)


async def link_and_use(server: RunningServer, method: str, documents: DocumentHost | None) -> None:
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        prm, metadata = discover(http, server.mcp_url)
        assert prm["resource"] == server.mcp_url
        assert "offline_access" in metadata["scopes_supported"]
        assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} <= set(
            metadata["token_endpoint_auth_methods_supported"]
        )
        assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
        assert metadata["client_id_metadata_document_supported"] is True
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        linked = link(http, server.mcp_url, "alice", PASSWORD, auth_method=method, documents=documents)
        if documents is not None:
            assert linked.client_id.startswith(documents.base_url + "/oauth/")
        tokens = linked.tokens
        assert tokens["token_type"] == "Bearer"
        assert "offline_access" in tokens["scope"].split()
        assert tokens["refresh_token"]

    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=10) as authed,
        Client(streamable_http_client(server.mcp_url, http_client=authed)) as client,
    ):
        listed = await client.list_tools()
        assert {t.name for t in listed.tools} == {"search", "fetch"}
        result = await client.call_tool("search", {"query": "parental leave"})
        assert not result.is_error and result.structured_content

    async with Client(sse_client(server.sse_url, headers=headers)) as client:
        result = await client.call_tool("search", {"query": "travel policy"})
        assert not result.is_error and result.structured_content

    with httpx.Client(timeout=10) as http:
        renewed = refresh(http, metadata["token_endpoint"], linked, tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        fresh = renewed.json()
        assert fresh["refresh_token"] != tokens["refresh_token"]
        assert fresh["access_token"] != tokens["access_token"]
        replay = refresh(http, metadata["token_endpoint"], linked, tokens["refresh_token"])
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        # Reuse of a rotated token revokes the whole grant: the newest refresh token is dead too.
        after = refresh(http, metadata["token_endpoint"], linked, fresh["refresh_token"])
        assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
