"""URL helpers and the legacy SSE event parser."""

from __future__ import annotations

import httpx
import pytest

from bridgehead.doctor.transport import sibling, sse_events


@pytest.mark.parametrize(
    ("url", "name", "expected"),
    [
        ("https://a.example/mcp", "sse", "https://a.example/sse"),
        ("https://a.example/api/mcp/", "sse", "https://a.example/api/sse"),
        ("https://a.example/sse", "mcp", "https://a.example/mcp"),
        ("https://a.example", "sse", "https://a.example/sse"),
        ("https://a.example/tenant", "sse", "https://a.example/tenant/sse"),
    ],
)
def test_sibling(url: str, name: str, expected: str) -> None:
    assert sibling(url, name) == expected


async def test_sse_events() -> None:
    body = b': keep-alive\n\nevent: endpoint\ndata: /messages/?session_id=1\n\ndata: {"a":\ndata: 1}\n\n'
    response = httpx.Response(200, content=body)
    events = [event async for event in sse_events(response)]
    assert events == [("endpoint", "/messages/?session_id=1"), ("message", '{"a":\n1}')]
