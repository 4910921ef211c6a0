"""The doctor against a server nobody here wrote: @modelcontextprotocol/server-everything over
Streamable HTTP, pinned in tests/interop/node/package.json and run on Node 22 on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridgehead.doctor import Status
from tests.conftest import free_port
from tests.doctor.conftest import assert_findings, explain, run_doctor, statuses
from tests.interop.conftest import NodePeers, node_peers

pytestmark = [pytest.mark.node, pytest.mark.timeout(180)]
__all__ = ["node_peers"]

EVERYTHING = "@modelcontextprotocol/server-everything"
# Its CLI listens on every interface; this preload makes it listen on 127.0.0.1 only.
LOOPBACK_PRELOAD = Path(__file__).with_name("loopback.mjs")


@pytest.fixture(scope="module")
def everything_url(node_peers: NodePeers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    command = node_peers.command(EVERYTHING, "mcp-server-everything", "streamableHttp")
    command[1:1] = ["--import", LOOPBACK_PRELOAD.as_uri()]
    log = tmp_path_factory.mktemp("everything") / "server.log"
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env={**node_peers.env(), "PORT": str(port)},
            cwd=node_peers.home,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server-everything exited:\n{log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server-everything did not listen:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def test_everything_server_report(everything_url: str) -> None:
    report = await run_doctor(everything_url)
    # Two real findings: its example transport answers an unknown session id with 400 (so after a
    # restart ChatGPT fails instead of re-initializing), and zod-to-json-schema declares draft-07.
    assert_findings(report, fails={"transport.sessions"}, warns={"tools.schema_dialect"})
    sessions = report.get("transport.sessions")
    assert sessions is not None and "HTTP 400" in sessions.message
    found = statuses(report)
    for check_id in (
        "url.endpoint",
        "transport.streamable_http",
        "tools.list",
        "tools.schemas",
        "tools.descriptions",
        "tools.annotations",
        "tools.hints",
        "tools.response_size",
        "transport.redirects",
    ):
        assert found[check_id] is Status.PASS, explain(report)
    # It has no search/fetch pair: not applicable, not a failure.
    for check_id in ("tools.search", "tools.fetch"):
        result = report.get(check_id)
        assert result is not None and result.status is Status.NA, explain(report)
        assert "not applicable" in result.message
    # No authorization, no 2026-07-28 discovery, no legacy SSE endpoint: none of it applies.
    assert all(found[c] is Status.NA for c in found if c.startswith(("auth.", "oauth."))), explain(report)
    assert found["transport.discover"] is Status.NA
    assert found["transport.sse"] is Status.NA
    assert found["tools.security_schemes"] is Status.NA
    listed = report.get("tools.list")
    assert listed is not None and "echo" in listed.evidence[0] and "get-sum" in listed.evidence[0]
    assert report.exit_code == 1
