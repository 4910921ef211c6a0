"""Proxies, tunnels, DNS rebinding, direct TLS and the health probes."""

from __future__ import annotations

import datetime
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from mcp import Client

from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body


def test_health_and_readiness(sample_server: RunningServer) -> None:
    health = httpx.get(sample_server.base_url + "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = httpx.get(sample_server.base_url + "/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": True, "connector:docs": True}


def test_dns_rebinding_protection_on_localhost(sample_server: RunningServer) -> None:
    evil_host = httpx.post(
        sample_server.mcp_url, headers={**HEADERS, "host": "evil.example"}, json=initialize_body()
    )
    assert evil_host.status_code == 421
    evil_origin = httpx.post(
        sample_server.mcp_url, headers={**HEADERS, "origin": "http://evil.example"}, json=initialize_body()
    )
    assert evil_origin.status_code == 403
    good_origin = httpx.post(
        sample_server.mcp_url,
        headers={**HEADERS, "origin": f"http://127.0.0.1:{sample_server.port}"},
        json=initialize_body(),
    )
    assert good_origin.status_code == 200
    with httpx.stream("GET", sample_server.sse_url, headers={"host": "evil.example"}) as sse:
        assert sse.status_code == 421


def test_protection_can_be_turned_off(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(server={"dns_rebinding_protection": False})
    response = httpx.post(
        server.mcp_url, headers={**HEADERS, "host": "anything.example"}, json=initialize_body()
    )
    assert response.status_code == 200


async def test_public_base_url_is_used_for_every_advertised_url(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory(server={"public_base_url": "https://mcp.example.com/"})
    # The tunnel forwards the public Host header; it must be accepted.
    async with httpx.AsyncClient() as http:
        public = await http.post(
            server.mcp_url, headers={**HEADERS, "host": "mcp.example.com"}, json=initialize_body()
        )
    assert public.status_code == 200
    async with Client(server.mcp_url) as client:
        result = await client.call_tool("search", {"query": "travel"})
    assert result.structured_content
    for item in result.structured_content["results"]:
        assert item["url"].startswith("https://mcp.example.com/documents/")


def test_forwarded_headers_from_trusted_proxy(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(server={"trusted_proxies": ["127.0.0.1"], "allowed_hosts": ["abc.ngrok.app"]})
    urls = _search_urls(server, {"x-forwarded-proto": "https", "x-forwarded-host": "abc.ngrok.app"})
    assert urls and all(u.startswith("https://abc.ngrok.app/documents/") for u in urls)


def test_forwarded_headers_from_untrusted_peer_are_ignored(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory(server={"trusted_proxies": ["10.0.0.0/8"]})
    urls = _search_urls(server, {"x-forwarded-proto": "https", "x-forwarded-host": "attacker.example"})
    assert urls and all(u.startswith(f"http://127.0.0.1:{server.port}/documents/") for u in urls)


def _search_urls(server: RunningServer, extra: dict[str, str]) -> list[str]:
    headers = {**HEADERS, "accept": "application/json, text/event-stream", **extra}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        opened = http.post("/mcp", json=initialize_body())
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        http.post("/mcp", headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "expenses"}},
        }
        text = http.post("/mcp", headers=session, json=call).text
    import json

    from tests.protocol.conftest import parse_sse

    for event in parse_sse(text):
        data = event.get("data", "")
        if data.startswith("{"):
            message = json.loads(data)
            if message.get("id") == 5:
                return [r["url"] for r in message["result"]["structuredContent"]["results"]]
    raise AssertionError(text)


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_direct_tls(self_signed: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.test_serve_process import bridgehead_process

    cert, key = self_signed
    with bridgehead_process(
        tmp_path, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), scheme="https"
    ) as base:
        context = ssl.create_default_context(cafile=str(cert))
        response = httpx.post(base + "/mcp", headers=HEADERS, json=initialize_body(), verify=context)
        assert response.status_code == 200
        assert datetime.date.today().year > 2000
