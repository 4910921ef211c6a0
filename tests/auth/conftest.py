"""Fixtures for auth tests: servers in oauth or mixed mode, with real users in their store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridgehead.auth.users import UserStore
from bridgehead.config import load_settings
from bridgehead.store import Database
from tests.conftest import RunningServer, run_coroutine

PASSWORD = "correct horse battery"


def add_user(store_url: str, username: str, role: str = "member", password: str = PASSWORD) -> None:
    """Create a user through the real store, before or while a server runs."""

    async def create() -> None:
        database = Database(store_url)
        await database.migrate()
        try:
            roles = set(load_settings(None, environ={}).auth.roles)
            await UserStore(database, roles).add(username, password, role)
        finally:
            await database.close()

    run_coroutine(create())


@pytest.fixture
def oauth_server(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> Callable[..., RunningServer]:
    """Start a server in the given auth mode with users alice (member) and rita (reader)."""

    def start(mode: str = "oauth", **overrides: Any) -> RunningServer:
        store = f"sqlite+aiosqlite:///{tmp_path / f'auth-{mode}.db'}"
        add_user(store, "alice", "member")
        add_user(store, "rita", "reader")
        auth = {"mode": mode, **overrides.pop("auth", {})}
        return server_factory(auth=auth, store={"url": store}, **overrides)

    return start
