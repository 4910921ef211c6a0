"""The MCP Inspector's CLI (``inspector --cli``) against ``bridgehead serve``, over Streamable HTTP and legacy SSE.

Asserts the exact shapes ChatGPT relies on: ``search`` answers one text item whose
JSON is ``{"results": [{"id", "title", "url"}]}`` and the same object as
structuredContent; ``fetch`` answers ``{"id", "title", "text", "url", "metadata"}``.

Streamable HTTP runs against each configuration of /mcp (tests/interop/paths.py), and every
invocation checks that its tools/list and tools/call were answered by the path the
configuration selects. Legacy SSE runs against the defaults only: /sse is served by the
SDK's SSE transport whatever ``mcp.json_response`` and ``mcp.fast_path`` say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.interop.conftest import BridgeheadPool, NodePeers, ServedBridgehead
from tests.interop.paths import DEFAULT, PATHS, MCPPath, check_answered_by, hot_requests

pytestmark = [pytest.mark.node, pytest.mark.timeout(300)]

INSPECTOR = "@modelcontextprotocol/inspector"
# The Inspector's documented exit codes.
EXIT_OK, EXIT_ERROR, EXIT_TOOL_ERROR = 0, 1, 5


@dataclass(frozen=True)
class CliRun:
    """One Inspector CLI invocation: exit code, the JSON it printed, and its error envelope if any."""

    returncode: int
    output: dict[str, Any] | None
    error: dict[str, Any] | None
    stderr: str

    def explain(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.output}\nstderr: {self.stderr}"


@dataclass(frozen=True)
class Inspector:
    """The Inspector CLI pointed at one Bridgehead endpoint with one transport."""

    peers: NodePeers
    transport: str
    served: ServedBridgehead

    @property
    def url(self) -> str:
        return self.served.mcp_url if self.transport == "http" else self.served.sse_url

    def __call__(self, method: str, *args: str) -> CliRun:
        """Run the CLI once, and check which path answered the requests it made."""
        handled_before = len(self.served.handled())
        command = self.peers.command(
            INSPECTOR,
            "mcp-inspector",
            "--cli",
            "--transport",
            self.transport,
            "--server-url",
            self.url,
            "--method",
            method,
            *args,
            "--format",
            "json",
            # Never start an interactive OAuth flow (Bridgehead runs without auth here).
            "--stored-auth-only",
            "--connect-timeout",
            "15000",
        )
        done = self.peers.run(command, timeout=60)
        output = json.loads(done.stdout) if done.stdout.strip() else None
        envelopes = [line for line in done.stderr.splitlines() if line.startswith('{"error"')]
        error = json.loads(envelopes[-1])["error"] if envelopes else None
        run = CliRun(done.returncode, output, error, done.stderr)
        # Every invocation lists the tools (tools/call checks the name against the listing first).
        handled = self.served.handled()[handled_before:]
        path = self.served.mcp_path
        if self.transport == "http":
            hot = hot_requests(handled, path="/mcp")
            check_answered_by(path.fast, f"{path.id}, {method}\n{run.explain()}", hot)
        else:
            hot = hot_requests(handled, path="/messages")
            check_answered_by(False, f"legacy SSE, {method}\n{run.explain()}", hot)
        return run

    def call(self, tool: str, arguments: dict[str, Any]) -> CliRun:
        return self("tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments))


TRANSPORTS: list[tuple[MCPPath, str]] = [(path, "http") for path in PATHS] + [(DEFAULT, "sse")]


@pytest.fixture(params=TRANSPORTS, ids=[f"{path.id}-{transport}" for path, transport in TRANSPORTS])
def inspector(
    request: pytest.FixtureRequest, node_peers: NodePeers, bridgeheads: BridgeheadPool
) -> Inspector:
    """The Inspector over Streamable HTTP (/mcp) in each configuration, and over legacy HTTP+SSE (/sse)."""
    path, transport = request.param
    return Inspector(node_peers, transport, bridgeheads[path])


def _only_text_item(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON in the result's single text content item."""
    content = result["content"]
    assert len(content) == 1, content
    assert content[0]["type"] == "text"
    assert set(content[0]) <= {"type", "text", "annotations", "_meta"}, content[0]
    payload: dict[str, Any] = json.loads(content[0]["text"])
    return payload


def _search(inspector: Inspector, query: str) -> dict[str, Any]:
    run = inspector.call("search", {"query": query})
    assert run.returncode == EXIT_OK, run.explain()
    assert run.output is not None
    result: dict[str, Any] = run.output["result"]
    return result


def test_lists_exactly_search_and_fetch(inspector: Inspector) -> None:
    run = inspector("tools/list")
    assert run.returncode == EXIT_OK, run.explain()
    assert run.output is not None
    tools = {tool["name"]: tool for tool in run.output["result"]["tools"]}
    assert sorted(tools) == ["fetch", "search"]
    assert tools["search"]["inputSchema"]["required"] == ["query"]
    assert tools["fetch"]["inputSchema"]["required"] == ["id"]
    for tool in tools.values():
        assert tool["inputSchema"]["additionalProperties"] is False
        assert tool["outputSchema"]["type"] == "object"
        assert tool["annotations"]["readOnlyHint"] is True
        assert tool["annotations"]["destructiveHint"] is False


def test_search_returns_results_as_text_and_as_structured_content(inspector: Inspector) -> None:
    result = _search(inspector, "parental leave")
    assert result["isError"] is False
    payload = _only_text_item(result)
    assert result["structuredContent"] == payload
    assert list(payload) == ["results"]
    results = payload["results"]
    assert results, "no results for 'parental leave' in the sample corpus"
    for item in results:
        assert list(item) == ["id", "title", "url"], item
        assert all(isinstance(value, str) and value for value in item.values()), item
        assert item["url"].startswith(f"{inspector.served.base_url}/documents/"), item
    assert len({item["id"] for item in results}) == len(results)
    assert results[0]["title"] == "Parental Leave"


def test_fetch_returns_the_document_search_found(inspector: Inspector) -> None:
    hit = _search(inspector, "parental leave")["structuredContent"]["results"][0]
    run = inspector.call("fetch", {"id": hit["id"]})
    assert run.returncode == EXIT_OK, run.explain()
    assert run.output is not None
    result = run.output["result"]
    assert result["isError"] is False
    document = _only_text_item(result)
    assert result["structuredContent"] == document
    assert list(document) == ["id", "title", "text", "url", "metadata"]
    assert (document["id"], document["title"], document["url"]) == (hit["id"], hit["title"], hit["url"])
    assert "parental leave" in document["text"].lower()
    assert isinstance(document["metadata"], dict)
    assert all(isinstance(value, str) for value in document["metadata"].values())


def test_fetch_of_an_unknown_id_is_a_tool_error(inspector: Inspector) -> None:
    run = inspector.call("fetch", {"id": "docs:no/such/document.md"})
    assert run.returncode == EXIT_TOOL_ERROR, run.explain()
    assert run.output is not None
    result = run.output["result"]
    assert result["isError"] is True
    assert "No document with id" in result["content"][0]["text"]


def test_unknown_tool_is_an_error(inspector: Inspector) -> None:
    # The Inspector checks the name against tools/list before calling, so this proves the
    # listing has no such tool; the server's own "Unknown tool" answer is exercised by the
    # conformance suite (see test_conformance.py).
    run = inspector.call("no_such_tool", {})
    assert run.returncode == EXIT_TOOL_ERROR, run.explain()
    assert run.error is not None and run.error["code"] == "tool_not_found", run.explain()


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search", {}, "missing required argument 'query'"),
        ("search", {"query": ""}, "invalid argument 'query'"),
        ("search", {"query": 42}, "invalid argument 'query'"),
        ("search", {"query": "leave", "limit": 5}, "unexpected argument"),
        ("fetch", {"document": "x"}, "missing required argument 'id'"),
    ],
)
def test_invalid_arguments_are_rejected(
    inspector: Inspector, tool: str, arguments: dict[str, Any], message: str
) -> None:
    run = inspector.call(tool, arguments)
    assert run.returncode == EXIT_ERROR, run.explain()
    assert run.error is not None, run.explain()
    assert f"Tool '{tool}'" in run.error["message"] and message in run.error["message"], run.explain()


def test_tool_schemas_pass_the_inspectors_strict_portability_check(
    node_peers: NodePeers, bridgehead: ServedBridgehead
) -> None:
    # --strict exits 6 on an error-severity portability problem; warnings are allowed.
    run = Inspector(node_peers, "http", bridgehead)("tools/list", "--strict")
    assert run.returncode == EXIT_OK, run.explain()
