"""The runtime end to end on each store, and readiness before and after start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mcp import Client

from bridgehead.runtime import Runtime
from tests.conftest import RunningServer, make_settings


async def test_readiness_before_start(tmp_path: Path) -> None:
    runtime = Runtime.create(make_settings(tmp_path))
    try:
        ready, checks = await runtime.readiness()
        assert not ready
        assert checks["database"] is True
        assert checks["connector:docs"] is False  # not indexed yet: /readyz answers 503
    finally:
        await runtime.database.close()


async def test_full_server_on_each_store(
    server_factory: Callable[..., RunningServer], store_url: str
) -> None:
    server = server_factory(store={"url": store_url})
    async with Client(server.mcp_url) as client:
        found = await client.call_tool("search", {"query": '"bring your own device"'})
        assert found.structured_content and found.structured_content["results"]
        first = found.structured_content["results"][0]
        document = await client.call_tool("fetch", {"id": first["id"]})
        assert document.structured_content and "device" in document.structured_content["text"].lower()
