"""Sessions that survive a restart: an unknown ``Mcp-Session-Id`` gets 404.

A server that restarts (a deploy, a crash) or a replica that never saw the session no longer
knows the id ChatGPT holds. The Streamable HTTP transport says what happens then: the server
answers 404, and the client starts a new session with a fresh initialize. A server that
answers 400 (a common default) or anything else leaves ChatGPT failing until the user
reconnects. Restarting someone else's server is not an option, so the doctor sends a request
with a session id the server cannot know, which is exactly what it sees after a restart.
"""

from __future__ import annotations

import secrets

from mcp_types.version import LATEST_HANDSHAKE_VERSION

from bridgehead.doctor.probe import Probe, Unreachable, describe
from bridgehead.doctor.report import Status, shorten
from bridgehead.doctor.transport import ACCEPT_BOTH, INITIALIZE

SESSION_HEADER = "mcp-session-id"


async def check_sessions(probe: Probe) -> None:
    """``transport.sessions``."""
    learned = probe.learned
    report = probe.report
    if learned.transport != "streamable":
        if report.get("transport.sessions") is None:
            report.record("transport.sessions", Status.NA, "no Streamable HTTP transport: no session ids")
        return
    headers = {"accept": ACCEPT_BOTH}
    if learned.access_token and probe.same_origin(probe.url):
        headers["authorization"] = f"Bearer {learned.access_token}"
    evidence: list[str] = []
    try:
        first = await probe.send("POST", probe.url, headers=headers, json_body=INITIALIZE)
    except Unreachable as exc:
        report.record("transport.sessions", Status.SKIP, f"initialize failed: {exc}")
        return
    issued = first.headers.get(SESSION_HEADER)
    evidence.append(
        f"{describe(first)}; Mcp-Session-Id: {shorten(issued, 60) if issued else '(none: stateless)'}"
    )
    unknown = "bridgehead-doctor-" + secrets.token_hex(16)
    request = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    try:
        response = await probe.send(
            "POST",
            probe.url,
            headers={**headers, SESSION_HEADER: unknown, "mcp-protocol-version": LATEST_HANDSHAKE_VERSION},
            json_body=request,
        )
    except Unreachable as exc:
        report.record("transport.sessions", Status.SKIP, f"no answer to the unknown session id: {exc}")
        return
    evidence.append(f"tools/list with an unknown Mcp-Session-Id: {describe(response)}")
    if response.content:
        evidence.append(shorten(response.text, 200))
    status = response.status_code
    if status == 404:
        report.record(
            "transport.sessions",
            Status.PASS,
            "an unknown session id gets 404: after a restart ChatGPT starts a new session",
            evidence=evidence,
        )
    elif response.is_success:
        report.record(
            "transport.sessions",
            Status.PASS,
            "requests with an unknown session id are served: no session state to lose"
            + ("" if not issued else " (though initialize issued one)"),
            evidence=evidence,
        )
    elif status in (401, 403):
        report.record(
            "transport.sessions",
            Status.SKIP,
            f"the request was refused for authorization (HTTP {status}); sessions could not be checked",
            evidence=evidence,
        )
    else:
        report.record(
            "transport.sessions",
            Status.FAIL,
            f"an unknown session id gets HTTP {status}, not 404: after a restart (or on another replica) "
            "ChatGPT keeps failing instead of starting a new session",
            evidence=evidence,
            hint="Answer requests whose Mcp-Session-Id the server does not know with 404 Not Found (Streamable "
            "HTTP transport, session management): clients then initialize a new session. Or run stateless, or "
            "keep sessions in shared storage across restarts and replicas.",
        )
