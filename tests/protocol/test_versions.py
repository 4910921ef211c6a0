"""Protocol version negotiation: every handshake-era version, and the 2026-07-28 per-request envelope."""

from __future__ import annotations

import httpx
import pytest
from mcp import Client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body


@pytest.mark.parametrize("version", sorted(HANDSHAKE_PROTOCOL_VERSIONS))
def test_handshake_versions_are_echoed(sample_server: RunningServer, version: str) -> None:
    response = httpx.post(sample_server.mcp_url, headers=HEADERS, json=initialize_body(version))
    assert response.status_code == 200
    text = response.text
    assert f'"protocolVersion":"{version}"' in text


def test_unknown_version_gets_the_newest_handshake_version(sample_server: RunningServer) -> None:
    response = httpx.post(sample_server.mcp_url, headers=HEADERS, json=initialize_body("1999-01-01"))
    assert response.status_code == 200
    newest = max(HANDSHAKE_PROTOCOL_VERSIONS)
    assert f'"protocolVersion":"{newest}"' in response.text


def test_expected_versions_are_supported() -> None:
    assert {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"} <= set(HANDSHAKE_PROTOCOL_VERSIONS)
    assert "2026-07-28" in MODERN_PROTOCOL_VERSIONS


@pytest.mark.parametrize("version", sorted(MODERN_PROTOCOL_VERSIONS))
async def test_modern_envelope(sample_server: RunningServer, version: str) -> None:
    async with Client(sample_server.mcp_url, mode=version) as client:
        assert client.protocol_version == version
        result = await client.call_tool("search", {"query": "security policy"})
        assert not result.is_error
        assert result.structured_content and result.structured_content["results"]


async def test_auto_mode_discovers_the_modern_version(sample_server: RunningServer) -> None:
    async with Client(sample_server.mcp_url) as client:
        assert client.protocol_version == max(MODERN_PROTOCOL_VERSIONS)
    async with Client(sample_server.mcp_url, mode="legacy") as client:
        assert client.protocol_version == max(HANDSHAKE_PROTOCOL_VERSIONS)
