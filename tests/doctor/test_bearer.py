"""The access token on MCP requests: only to the MCP server's origin, and a step-up on 403."""

from __future__ import annotations

import httpx2

from bridgehead.doctor import DoctorOptions, Report
from bridgehead.doctor.bearer import BearerAuth
from bridgehead.doctor.probe import Probe

URL = "https://mcp.example.com/mcp"


async def test_the_token_goes_to_the_mcp_origin_only_and_steps_up_on_insufficient_scope() -> None:
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        token = request.headers.get("authorization")
        seen.append((str(request.url), token))
        if request.url.path == "/needs-write" and token == "Bearer first":
            challenge = 'Bearer error="insufficient_scope", scope="write", resource_metadata="https://mcp.example.com/m"'
            return httpx2.Response(403, headers={"www-authenticate": challenge})
        return httpx2.Response(200)

    async with Probe(URL, DoctorOptions(), Report(URL)) as probe:
        probe.learned.access_token = "first"
        asked: list[str | None] = []

        async def step_up(scope: str | None) -> str | None:
            asked.append(scope)
            probe.learned.access_token = "second"
            return "second"

        probe.step_up = step_up
        async with httpx2.AsyncClient(
            transport=httpx2.MockTransport(answer), auth=BearerAuth(probe)
        ) as client:
            assert (await client.get("https://mcp.example.com/other")).status_code == 200
            assert (await client.get("https://elsewhere.example.com/mcp")).status_code == 200
            assert (await client.get("http://mcp.example.com/mcp")).status_code == 200  # another scheme
            response = await client.post("https://mcp.example.com/needs-write", content=b"{}")
        assert response.status_code == 200
        assert asked == ["write"]
        assert seen == [
            ("https://mcp.example.com/other", "Bearer first"),
            ("https://elsewhere.example.com/mcp", None),
            ("http://mcp.example.com/mcp", None),
            ("https://mcp.example.com/needs-write", "Bearer first"),
            ("https://mcp.example.com/needs-write", "Bearer second"),
        ]
        assert probe.learned.step_up[-1] == "retried POST /needs-write → 200"
