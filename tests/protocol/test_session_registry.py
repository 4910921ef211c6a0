"""The session store: activity times only move forward, and expired sessions are pruned."""

from __future__ import annotations

import time

import anyio

from bridgehead.protocol.session_registry import SessionRegistry
from bridgehead.store import Database


async def test_activity_only_moves_forward(database: Database) -> None:
    registry = SessionRegistry(database, idle_timeout=100)
    assert registry.touch_interval == 10  # a tenth of the timeout: expiry is never judged far too early
    await registry.save("s1", None, "2025-11-25", None)
    saved = await registry.find("s1")
    assert saved is not None
    await registry.touch("s1", at=saved.last_seen - 50)  # an idle start older than what is stored
    found = await registry.find("s1")
    assert found is not None and found.last_seen == saved.last_seen
    await registry.touch("s1", at=saved.last_seen + 20)
    found = await registry.find("s1")
    assert found is not None and found.last_seen == saved.last_seen + 20


async def test_prune_deletes_expired_sessions_and_forgets_them(database: Database) -> None:
    registry = SessionRegistry(database, idle_timeout=100)
    await registry.save("old", None, "2025-11-25", None)
    await registry.save("new", None, "2025-11-25", None)
    registry._touched["gone"] = time.time() - 500  # a session last active long ago
    assert await registry.prune() == 0  # both stored sessions are recent
    assert set(registry._touched) == {"old", "new"}
    registry.idle_timeout = 0.001
    await anyio.sleep(0.01)
    assert await registry.prune() == 2
    assert await registry.find("new") is None
    assert registry._touched == {}
