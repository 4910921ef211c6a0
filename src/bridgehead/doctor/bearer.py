"""The access token on MCP requests, and the step-up when a request needs more scopes.

An ``httpx2.Auth`` for the SDK's MCP clients: every request to the MCP server's own origin
carries the doctor's bearer token (never a request anywhere else), and a 403 with
``error="insufficient_scope"`` (RFC 6750 §3.1) is answered as the MCP authorization spec says:
re-authorize for the scopes the challenge names, then send the request once more.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from urllib.parse import urlsplit

import httpx2

from bridgehead.doctor.challenges import bearer_challenge
from bridgehead.doctor.probe import Probe


class BearerAuth(httpx2.Auth):
    """The doctor's token on MCP requests, with step-up on 403 insufficient_scope."""

    requires_request_body = True

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        probe = self.probe
        token = probe.learned.access_token
        mine = probe.same_origin(str(request.url))
        if token and mine:
            request.headers["authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 403 or not token or not mine or probe.step_up is None:
            return
        challenge = bearer_challenge(response.headers.get("www-authenticate", "")) or {}
        if challenge.get("error") != "insufficient_scope":
            return
        where = f"{request.method} {urlsplit(str(request.url)).path}"
        probe.learned.step_up.append(
            f"{where} → 403 insufficient_scope, scope {challenge.get('scope')!r}"
            f" (WWW-Authenticate: {response.headers.get('www-authenticate')})"
        )
        new_token = await probe.step_up(challenge.get("scope"))
        if new_token is None:
            return
        request.headers["authorization"] = f"Bearer {new_token}"
        retried = yield request
        probe.learned.step_up.append(f"retried {where} → {retried.status_code}")
