"""The upstream MCP connector: another MCP server's tools through Bridgehead, over each transport."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from mcp import Client

from tests.conftest import RunningServer, free_port

SERVER = str(Path(__file__).with_name("upstream_server.py"))
ALLOW = ["add", "shout", "pixel", "fail"]


@contextmanager
def upstream_process(transport: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, SERVER, transport, str(port)], stderr=subprocess.DEVNULL)
    path = "/mcp" if transport == "streamable-http" else "/sse"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with httpx.stream("GET", f"http://127.0.0.1:{port}{path}", timeout=1) as response:
                    if response.status_code < 500:
                        break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _connector(**extra: object) -> dict[str, object]:
    return {
        "type": "upstream",
        "name": "up",
        "tool_prefix": "up_",
        "allow": ALLOW,
        "ping_interval": 0.5,
        **extra,
    }


async def _check_relay(server: RunningServer) -> None:
    async with Client(server.mcp_url) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= {"up_add", "up_shout", "up_pixel", "up_fail"}
        assert "up_secret_admin_tool" not in tools
        assert tools["up_add"].annotations and tools["up_add"].annotations.read_only_hint is True
        assert tools["up_add"].annotations.open_world_hint is False
        shout = tools["up_shout"].annotations
        assert shout and shout.read_only_hint is False and shout.destructive_hint is True
        added = await client.call_tool("up_add", {"a": 2, "b": 40})
        assert not added.is_error and added.content[0].text == "42"
        image = await client.call_tool("up_pixel", {})
        assert image.content[0].type == "image"
        failed = await client.call_tool("up_fail", {})
        assert failed.is_error and "fail" in failed.content[0].text


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_relay_over_http(server_factory: Callable[..., RunningServer], transport: str) -> None:
    port = free_port()
    path = "/mcp" if transport == "streamable-http" else "/sse"
    with upstream_process(transport, port):
        server = server_factory(
            connectors=[_connector(url=f"http://127.0.0.1:{port}{path}", transport=transport)],
            sample_corpus=False,
        )
        await _check_relay(server)


async def test_relay_over_stdio(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory(
        connectors=[_connector(transport="stdio", command=sys.executable, args=[SERVER, "stdio"])],
        sample_corpus=False,
    )
    await _check_relay(server)


async def test_upstream_that_disappears_comes_back(server_factory: Callable[..., RunningServer]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with upstream_process("streamable-http", port):
        server = server_factory(connectors=[_connector(url=url)], sample_corpus=False)
        async with Client(server.mcp_url) as client:
            assert not (await client.call_tool("up_add", {"a": 1, "b": 1})).is_error
    # The upstream is gone: its tools stay listed, and calls say it is unavailable.
    async with Client(server.mcp_url) as client:
        assert "up_add" in {t.name for t in (await client.list_tools()).tools}
        down = await client.call_tool("up_add", {"a": 1, "b": 1})
        assert down.is_error and "unavailable" in down.content[0].text
    with upstream_process("streamable-http", port):
        deadline = time.monotonic() + 40
        async with Client(server.mcp_url) as client:
            while True:
                back = await client.call_tool("up_add", {"a": 20, "b": 22})
                if not back.is_error:
                    break
                assert time.monotonic() < deadline, back.content[0].text
                await __import__("asyncio").sleep(0.5)
            assert back.content[0].text == "42"


async def test_unreachable_upstream_does_not_stop_the_server(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    functions = {"type": "functions", "name": "ops", "module": "tests.connectors.fixture_functions"}
    server = server_factory(
        connectors=[_connector(url=f"http://127.0.0.1:{free_port()}/mcp", timeout=2), functions]
    )
    async with Client(server.mcp_url) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "price_quote" in names  # the other connectors serve as usual
        quote = await client.call_tool("price_quote", {"sku": "TRN-4410"})
        assert not quote.is_error
    async with httpx.AsyncClient() as http:
        ready = await http.get(server.base_url + "/readyz")
    # Reported, but an upstream that comes and goes does not take the replica out of rotation.
    assert ready.status_code == 200
    assert ready.json()["checks"]["connector:up"] is False


def test_upstream_schemas_become_2020_12(caplog: pytest.LogCaptureFixture) -> None:
    from jsonschema import Draft202012Validator

    from bridgehead.connectors.upstream import schema_2020_12

    legacy = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "id": "#legacy",
        "type": "object",
        "definitions": {"n": {"type": "integer", "minimum": 1, "exclusiveMinimum": False}},
        "properties": {
            "pair": {"type": "array", "items": [{"$ref": "#/definitions/n"}, {"type": "string"}]},
            "rest": {"type": "array", "items": {"type": "string"}, "additionalItems": False},
            "limit": {"type": "number", "maximum": 10, "exclusiveMaximum": True},
            "either": {
                "anyOf": [{"type": "array", "items": [{"type": "boolean"}], "additionalItems": False}]
            },
        },
        "dependencies": {"pair": ["limit"], "rest": {"properties": {"limit": {"maximum": 5}}}},
    }
    converted = schema_2020_12(legacy, tool="t", kind="input")
    assert converted == {
        "type": "object",
        "$defs": {"n": {"type": "integer", "minimum": 1}},
        "properties": {
            "pair": {"type": "array", "prefixItems": [{"$ref": "#/$defs/n"}, {"type": "string"}]},
            "rest": {"type": "array", "items": {"type": "string"}},
            "limit": {"type": "number", "exclusiveMaximum": 10},
            "either": {"anyOf": [{"type": "array", "prefixItems": [{"type": "boolean"}], "items": False}]},
        },
        "dependentRequired": {"pair": ["limit"]},
        "dependentSchemas": {"rest": {"properties": {"limit": {"maximum": 5}}}},
    }
    validator = Draft202012Validator(converted)
    assert validator.is_valid({"pair": [2, "x"], "limit": 9.5})
    assert not validator.is_valid({"pair": [0, "x"], "limit": 1})  # minimum 1 still holds
    assert not validator.is_valid({"limit": 10})  # exclusive
    assert not validator.is_valid({"pair": [1, "x"]})  # pair needs limit
    assert not validator.is_valid({"either": [True, False]})  # nothing may follow the tuple
    # Beyond repair: an input schema becomes an open object, an output schema goes, with a warning.
    broken = {"type": "object", "properties": {"x": {"type": "no-such-type"}}}
    assert schema_2020_12(broken, tool="t", kind="input") == {"type": "object"}
    assert schema_2020_12(broken, tool="t", kind="output") is None
    assert "not valid JSON Schema" in caplog.text
