"""The fast path answers exactly as the SDK transport does: the same status, headers and bytes,
for the hot requests and for a table of malformed ones, in stateless and session modes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import obtain_tokens
from tests.conftest import RunningServer, make_settings, serve_in_thread

PUBLIC = "https://mcp.example.com"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
DOC = "docs:northwind/handbook/parental-leave.md"


def _call(name: str, arguments: Any, request_id: Any = 7) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


HOT: list[tuple[str, Any]] = [
    ("tools/list", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    ("tools/list with params", {"jsonrpc": "2.0", "id": "a", "method": "tools/list", "params": {}}),
    ("ping", {"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    ("search", _call("search", {"query": "parental leave"})),
    ("search phrase", _call("search", {"query": '"severity 1 incident"'}, "s-1")),
    ("fetch", _call("fetch", {"id": DOC})),
    ("fetch unknown", _call("fetch", {"id": "docs:nope"})),
    ("missing argument", _call("search", {})),
    ("wrong type", _call("search", {"query": 5})),
    ("extra argument", _call("search", {"query": "x", "limit": 3})),
    ("unknown tool", _call("teleport", {})),
    ("arguments not an object", _call("search", [1, 2])),
    ("no params", {"jsonrpc": "2.0", "id": 3, "method": "tools/call"}),
    ("name not a string", {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": 5}}),
    ("unicode", _call("search", {"query": "Überstunden — café ☕"})),
    # What SDK clients and the Inspector add: a progress token, a cursor, _meta on ping.
    (
        "progress token",
        {
            "jsonrpc": "2.0",
            "id": 8,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "travel"}, "_meta": {"progressToken": "p-1"}},
        },
    ),
    ("cursor", {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"cursor": "opaque"}}),
    (
        "ping with _meta",
        {"jsonrpc": "2.0", "id": 6, "method": "ping", "params": {"_meta": {"progressToken": 6}}},
    ),
    ("bool id", {"jsonrpc": "2.0", "id": True, "method": "ping"}),
    ("null id", {"jsonrpc": "2.0", "id": None, "method": "ping"}),
]
MALFORMED: list[tuple[str, bytes, dict[str, str]]] = [
    ("invalid json", b"{nope", {}),
    ("not an object", b"[1, 2]", {}),
    ("wrong jsonrpc", b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', {}),
    ("no id is a notification", b'{"jsonrpc": "2.0", "method": "ping"}', {}),
    ("params not an object", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [1]}', {}),
    ("unknown method", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/explode"}', {}),
    ("wrong content type", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"content-type": "text/plain"}),
    ("wrong accept", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"accept": "text/html"}),
    (
        "modern version header",
        b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}',
        {"mcp-protocol-version": "2099-01-01"},
    ),
    ("foreign origin", b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}', {"origin": "https://evil.example"}),
    (
        "oversized",
        b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "' + b"y" * 5_000_000 + b'"}}',
        {},
    ),
]


def _pair(
    tmp_path_factory: pytest.TempPathFactory, **overrides: Any
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """The same configuration twice: fast path on and off."""
    base = {"server": {"public_base_url": PUBLIC, "allowed_hosts": ["127.0.0.1:*"]}, **overrides}
    mcp = {"json_response": True, **overrides.pop("mcp", {})}
    base.pop("mcp", None)
    fast = make_settings(tmp_path_factory.mktemp("fast"), mcp={**mcp, "fast_path": True}, **base)
    slow = make_settings(tmp_path_factory.mktemp("sdk"), mcp={**mcp, "fast_path": False}, **base)
    with serve_in_thread(fast) as a, serve_in_thread(slow) as b:
        yield a, b


@pytest.fixture(scope="module", params=["stateless", "session"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    yield from _pair(tmp_path_factory, mcp={"stateless": request.param == "stateless"})


def _session_headers(
    server: RunningServer,
    stateless: bool,
    extra: dict[str, str] | None = None,
    version: str = "2025-06-18",
    version_header: bool = True,
) -> dict[str, str]:
    headers = {**HEADERS, **({"mcp-protocol-version": version} if version_header else {}), **(extra or {})}
    if stateless:
        return headers
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    opened = httpx.post(server.mcp_url, headers={**HEADERS, **(extra or {})}, json=init)
    assert opened.status_code == 200, opened.text
    headers["mcp-session-id"] = opened.headers["mcp-session-id"]
    httpx.post(
        server.mcp_url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
    )
    return headers


# The two servers indexed the corpus at different moments; everything else must match to the byte.
INDEXED_AT = re.compile(rb'(indexed_at\\*":\\*")[^"\\]+')


# Differ between any two responses whatever the path: the clock, and each server's own session ids.
# content-length is checked against the body instead (the normalised body may differ in length).
VARYING_HEADERS = {"date": "DATE", "mcp-session-id": "SESSION"}


def _exchange(
    server: RunningServer, headers: dict[str, str], body: bytes
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """Status, response headers in order (varying values masked) and body, with the port as PORT."""
    response = httpx.post(server.mcp_url, headers=headers, content=body, timeout=20)
    if "content-length" in response.headers:
        assert int(response.headers["content-length"]) == len(response.content)
    port = str(server.port)
    shown = tuple(
        (name, VARYING_HEADERS.get(name, value.replace(port, "PORT")))
        for name, value in response.headers.items()
        if name != "content-length"
    )
    return (
        response.status_code,
        shown,
        INDEXED_AT.sub(rb"\1T", response.content).replace(port.encode(), b"PORT"),
    )


def _compare(
    fast: RunningServer, sdk: RunningServer, body: bytes, extra: dict[str, str] | None = None
) -> None:
    stateless = fast.settings.mcp.stateless
    fast_headers = _session_headers(fast, stateless, extra)
    sdk_headers = _session_headers(sdk, stateless, extra)
    assert _exchange(fast, fast_headers, body) == _exchange(sdk, sdk_headers, body)


@pytest.mark.parametrize(("label", "message"), HOT, ids=[label for label, _ in HOT])
def test_hot_requests_are_byte_identical(
    servers: tuple[RunningServer, RunningServer], label: str, message: Any
) -> None:
    import json

    _compare(*servers, json.dumps(message).encode())


@pytest.mark.parametrize("version_header", [True, False], ids=["version-header", "no-version-header"])
@pytest.mark.parametrize("version", HANDSHAKE_PROTOCOL_VERSIONS)
def test_every_handshake_version_is_byte_identical(
    servers: tuple[RunningServer, RunningServer], version: str, version_header: bool
) -> None:
    """Results are shaped per protocol version: the version negotiated, or the header, or the default."""
    import json

    fast, sdk = servers
    stateless = fast.settings.mcp.stateless
    fast_headers = _session_headers(fast, stateless, version=version, version_header=version_header)
    sdk_headers = _session_headers(sdk, stateless, version=version, version_header=version_header)
    for message in (
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        _call("search", {"query": "parental leave"}),
        _call("fetch", {"id": DOC}),
        _call("search", {"query": 5}),
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ):
        body = json.dumps(message).encode()
        assert _exchange(fast, fast_headers, body) == _exchange(sdk, sdk_headers, body), message


@pytest.mark.parametrize(("label", "body", "extra"), MALFORMED, ids=[label for label, _, _ in MALFORMED])
def test_malformed_requests_are_refused_identically(
    servers: tuple[RunningServer, RunningServer], label: str, body: bytes, extra: dict[str, str]
) -> None:
    fast, sdk = servers
    stateless = fast.settings.mcp.stateless
    fast_headers = {**_session_headers(fast, stateless), **extra}
    sdk_headers = {**_session_headers(sdk, stateless), **extra}
    assert _exchange(fast, fast_headers, body) == _exchange(sdk, sdk_headers, body)


def test_session_errors_are_identical(servers: tuple[RunningServer, RunningServer]) -> None:
    fast, sdk = servers
    if fast.settings.mcp.stateless:
        pytest.skip("no sessions in stateless mode")
    ping = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
    for headers in (
        {**HEADERS, "mcp-protocol-version": "2025-06-18"},  # no session id
        {**HEADERS, "mcp-protocol-version": "2025-06-18", "mcp-session-id": "0" * 32},  # unknown
    ):
        assert _exchange(fast, headers, ping) == _exchange(sdk, headers, ping)


@pytest.fixture(scope="module")
def auth_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, RunningServer]]:
    store = tmp_path_factory.mktemp("store")
    urls = [f"sqlite+aiosqlite:///{store / name}.db" for name in ("fast", "sdk")]
    for url in urls:
        add_user(url, "alice", "member")
    settings = [
        make_settings(
            tmp_path_factory.mktemp(name),
            store={"url": url},
            mcp={"json_response": True, "fast_path": name == "fast"},
            auth={"mode": "mixed", "noauth_tools": ["search"], "tool_scopes": {"fetch": ["tools:write"]}},
        )
        for name, url in zip(("fast", "sdk"), urls, strict=True)
    ]
    with serve_in_thread(settings[0]) as fast, serve_in_thread(settings[1]) as sdk:
        yield fast, sdk


def test_auth_outcomes_are_identical(auth_servers: tuple[RunningServer, RunningServer]) -> None:
    import json

    fast, sdk = auth_servers
    tokens = []
    for server in (fast, sdk):
        with httpx.Client(timeout=10, follow_redirects=False) as http:
            tokens.append(
                obtain_tokens(http, server.base_url, "alice", PASSWORD, scope="tools:read")["access_token"]
            )
    cases: list[tuple[dict[str, Any], list[str | None]]] = [
        (_call("search", {"query": "travel"}), [None, None]),  # anonymous, allowed
        (_call("fetch", {"id": DOC}), [None, None]),  # anonymous, needs sign-in: tool error with challenge
        (_call("fetch", {"id": DOC}), tokens),  # token without tools:write: 403 step-up
        (_call("search", {"query": "travel"}), tokens),  # token, allowed
        ({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, tokens),
    ]
    for message, (fast_token, sdk_token) in cases:
        results = []
        for server, token in ((fast, fast_token), (sdk, sdk_token)):
            headers = {**HEADERS, **({"authorization": f"Bearer {token}"} if token else {})}
            opened = _session_headers(server, False, headers)
            results.append(_exchange(server, opened, json.dumps(message).encode()))
        assert results[0] == results[1], message
    # A bad token is refused before any session exists, the same way on both paths.
    garbage = {**HEADERS, "mcp-protocol-version": "2025-06-18", "authorization": "Bearer garbage.token.here"}
    ping = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
    assert _exchange(fast, garbage, ping) == _exchange(sdk, garbage, ping)


def test_fast_path_serves_the_hot_requests(servers: tuple[RunningServer, RunningServer]) -> None:
    """Guard against a silent fallback: the fast server must not enter the SDK transport for hot calls."""
    fast, _ = servers
    manager = fast.app.state.transports.streamable
    calls = itertools.count()
    original = manager.handle_request

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        next(calls)
        await original(scope, receive, send)

    headers = _session_headers(fast, fast.settings.mcp.stateless)
    manager.handle_request = counting
    try:
        before = next(calls)
        for _ in range(3):
            assert (
                httpx.post(
                    fast.mcp_url, headers=headers, json=_call("search", {"query": "travel"})
                ).status_code
                == 200
            )
        assert next(calls) == before + 1  # only our own probes advanced the counter
    finally:
        manager.handle_request = original
