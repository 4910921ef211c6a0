"""Every malformed request gets the protocol's own error, over raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer
from tests.protocol.conftest import HEADERS, initialize_body, open_session, rpc


@pytest.fixture
def http(json_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=json_server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def session(http: httpx.Client) -> dict[str, str]:
    return open_session(http)


def _json_error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    error: dict[str, object] = body["error"]
    return error


def test_invalid_json_is_a_parse_error(http: httpx.Client, session: dict[str, str]) -> None:
    response = http.post("/mcp", headers=session, content=b"{not json")
    assert response.status_code == 400
    assert _json_error(response)["code"] == -32700


def test_unknown_method_is_method_not_found(http: httpx.Client, session: dict[str, str]) -> None:
    response = http.post("/mcp", headers=session, json=rpc("tools/destroy"))
    assert response.status_code == 200
    assert _json_error(response)["code"] == -32601


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({}, "query"), ({"query": 7}, "query"), ({"query": ""}, "query"), ({"query": "x", "extra": 1}, "extra")],
)
def test_bad_arguments_are_invalid_params_naming_the_argument(
    http: httpx.Client, session: dict[str, str], arguments: dict[str, object], named: str
) -> None:
    body = rpc("tools/call", {"name": "search", "arguments": arguments})
    response = http.post("/mcp", headers=session, json=body)
    error = _json_error(response)
    assert error["code"] == -32602
    assert named in str(error["message"])


def test_unknown_tool_is_invalid_params(http: httpx.Client, session: dict[str, str]) -> None:
    body = rpc("tools/call", {"name": "nope", "arguments": {}})
    error = _json_error(http.post("/mcp", headers=session, json=body))
    assert error["code"] == -32602
    assert "nope" in str(error["message"])


def test_unknown_session_is_404(http: httpx.Client, session: dict[str, str]) -> None:
    headers = {**session, "mcp-session-id": "0123456789abcdef0123456789abcdef"}
    response = http.post("/mcp", headers=headers, json=rpc("tools/list"))
    assert response.status_code == 404
    assert _json_error(response)["code"] == -32600


def test_deleted_session_is_404(http: httpx.Client, session: dict[str, str]) -> None:
    assert http.delete("/mcp", headers=session).status_code == 200
    assert http.post("/mcp", headers=session, json=rpc("ping")).status_code == 404


@pytest.mark.parametrize("accept", ["text/html", "application/json", "text/event-stream", ""])
def test_sse_mode_post_without_both_accept_types_is_406(sample_server: RunningServer, accept: str) -> None:
    # The default endpoint streams SSE, so a POST must accept both media types.
    response = httpx.post(
        sample_server.mcp_url, headers={**HEADERS, "accept": accept}, json=initialize_body()
    )
    assert response.status_code == 406
    assert _json_error(response)["code"] == -32600


@pytest.mark.parametrize("accept", ["text/html", "text/event-stream"])
def test_json_mode_post_without_json_accept_is_406(http: httpx.Client, accept: str) -> None:
    response = http.post("/mcp", headers={**HEADERS, "accept": accept}, json=initialize_body())
    assert response.status_code == 406


def test_get_stream_without_sse_accept_is_406(http: httpx.Client, session: dict[str, str]) -> None:
    response = http.get("/mcp", headers={**session, "accept": "application/json"})
    assert response.status_code == 406


def test_wrong_content_type_is_415_or_400(http: httpx.Client) -> None:
    response = http.post("/mcp", headers={**HEADERS, "content-type": "text/plain"}, content=b"{}")
    assert response.status_code in (400, 415)


def test_oversized_body_is_413(http: httpx.Client, session: dict[str, str]) -> None:
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * (4 * 1024 * 1024 + 10) + b'"}}'
    )
    assert http.post("/mcp", headers=session, content=body).status_code == 413
    assert http.post("/messages/?session_id=" + "0" * 32, headers=HEADERS, content=body).status_code == 413


def test_request_without_session_that_is_not_initialize_is_400(http: httpx.Client) -> None:
    response = http.post("/mcp", headers=HEADERS, json=rpc("tools/list"))
    assert response.status_code == 400
    assert _json_error(response)["code"] == -32600


def test_unsupported_http_method_is_405(http: httpx.Client) -> None:
    assert http.put("/mcp", headers=HEADERS, json={}).status_code == 405
    assert http.post("/sse", headers=HEADERS, json={}).status_code == 405


def test_batch_is_rejected_with_a_jsonrpc_error(http: httpx.Client, session: dict[str, str]) -> None:
    response = http.post("/mcp", headers=session, json=[rpc("ping")])
    assert response.status_code == 400
    assert _json_error(response)["code"] in (-32600, -32602)


def test_legacy_message_endpoint_rejects_bad_sessions(http: httpx.Client) -> None:
    assert http.post("/messages/", headers=HEADERS, json=rpc("ping")).status_code == 400
    assert http.post("/messages/?session_id=zz", headers=HEADERS, json=rpc("ping")).status_code == 400
    unknown = http.post("/messages/?session_id=" + "a" * 32, headers=HEADERS, json=rpc("ping"))
    assert unknown.status_code == 404


def test_protocol_paths_never_redirect(http: httpx.Client) -> None:
    for path in ("/mcp", "/mcp/"):
        response = http.post(path, headers=HEADERS, json=initialize_body(), follow_redirects=False)
        assert response.status_code == 200, path
    for path in ("/sse", "/sse/"):
        with http.stream(
            "GET", path, headers={"accept": "text/event-stream"}, follow_redirects=False
        ) as response:
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize(
    "path",
    [
        "/documents/docs/northwind/../../../../etc/passwd",
        "/documents/docs/northwind/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_document_pages_never_read_outside_the_index(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert "root:" not in response.text
