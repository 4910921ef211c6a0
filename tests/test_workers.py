"""`bridgehead serve --workers 2`: every piece of shared state (clients, codes, signing keys, the session
cookie secret, MCP sessions, the audit trail) lives in the store, so any worker can serve any request."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import link
from tests.protocol.conftest import HEADERS, initialize_body, rpc
from tests.test_serve_process import bridgehead_process


def test_two_workers_share_auth_and_sessions(tmp_path: Path) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    add_user(store, "alice", "member")
    env = {"BRIDGEHEAD_STORE__URL": store, "BRIDGEHEAD_MCP__JSON_RESPONSE": "true"}
    with bridgehead_process(tmp_path, "--workers", "2", "--auth", "oauth", env=env) as base:
        # Registration, sign-in, consent and the code exchange land on whichever worker accepts each
        # connection (fresh connections each time); it only works if all of them share the store.
        for _ in range(3):
            with httpx.Client(timeout=15, follow_redirects=False) as http:
                tokens = link(http, base + "/mcp", "alice", PASSWORD).tokens
        bearer = {**HEADERS, "authorization": f"Bearer {tokens['access_token']}"}
        opened = httpx.post(base + "/mcp", headers=bearer, json=initialize_body())
        session = {
            **bearer,
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        call = rpc("tools/call", {"name": "search", "arguments": {"query": "travel"}})
        for _ in range(20):
            # New connections spread over both workers; a worker that did not open the session re-opens it.
            response = httpx.post(base + "/mcp", headers=session, json=call, timeout=15)
            assert response.status_code == 200, response.text
            assert "result" in response.json()
    logs = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert len(set(re.findall(r"Started server process \[(\d+)\]", logs))) == 2  # two workers


def test_sign_in_limits_are_shared_by_the_workers(tmp_path: Path) -> None:
    from tests.auth.flow import authorization_params, form_fields, pkce_pair, register

    store = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    add_user(store, "alice", "member")
    env = {"BRIDGEHEAD_STORE__URL": store, "BRIDGEHEAD_AUTH__LOGIN_ATTEMPTS": "3"}
    with bridgehead_process(tmp_path, "--workers", "2", "--auth", "oauth", env=env) as base:
        statuses = []
        for _ in range(5):
            # A new connection (and so, over time, both workers) for every attempt.
            with httpx.Client(timeout=15, follow_redirects=False) as http:
                client = register(http, base + "/register")
                _, challenge = pkce_pair()
                page = http.get(
                    base + "/authorize",
                    params=authorization_params(client, challenge, state="s", resource=None),
                )
                wrong = {**form_fields(page.text), "username": "alice", "password": "not her password"}
                statuses.append(http.post(base + "/login", data=wrong).status_code)
        assert statuses == [401, 401, 401, 429, 429]
