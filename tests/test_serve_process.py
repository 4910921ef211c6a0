"""The real `bridgehead serve` process, started as a user would, talked to over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from mcp import Client

from tests.conftest import free_port


@contextmanager
def bridgehead_process(
    tmp_path: Path,
    *args: str,
    scheme: str = "http",
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """Run `bridgehead serve` on a free port (or ``port``) until the block ends; yields its base URL."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "bridgehead",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        *args,
    ]
    log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError((tmp_path / f"serve-{port}.log").read_text())
            try:
                if httpx.get(base + "/readyz", verify=False, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("bridgehead serve did not become ready")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def test_serve_with_defaults_answers_real_clients(tmp_path: Path) -> None:
    with bridgehead_process(tmp_path) as base:
        async with Client(base + "/mcp") as client:
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == {"search", "fetch"}
            result = await client.call_tool("search", {"query": "escalation matrix"})
            assert result.structured_content and result.structured_content["results"]
    # Stopped cleanly on SIGTERM, and the index survives for the next start.
    assert (tmp_path / "data" / "bridgehead.db").exists()


def test_serve_rejects_an_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "eighty"\n[[connectors]]\ntype = "nope"\n')
    result = subprocess.run(
        [sys.executable, "-m", "bridgehead", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "server.port" in result.stderr
