"""Streamable HTTP sessions in the store, so a session outlives a restart and spans workers.

A session id the process does not know (it restarted, or another worker or
replica created it) is looked up here; when found, for the same principal and
not expired, the session is re-opened with its negotiated protocol version and
client parameters instead of answering 404. Truly unknown or expired ids still
get 404, as the spec requires, and the client re-initializes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from bridgehead.store import Database
from bridgehead.store.models import MCPSessionRow

TOUCH_INTERVAL = 30.0


@dataclass(frozen=True)
class StoredSession:
    id: str
    owner: dict[str, Any] | None
    protocol_version: str
    client_params: dict[str, Any] | None
    last_seen: float


class SessionRegistry:
    """Sessions by id, with their owner and what was negotiated at initialize."""

    def __init__(self, database: Database, idle_timeout: float) -> None:
        self.database = database
        self.idle_timeout = idle_timeout
        self._touched: dict[str, float] = {}

    async def save(
        self,
        session_id: str,
        owner: dict[str, Any] | None,
        protocol_version: str,
        client_params: dict[str, Any] | None,
    ) -> None:
        now = time.time()
        async with self.database.connect() as conn:
            await conn.execute(delete(MCPSessionRow).where(MCPSessionRow.id == session_id))
            await conn.execute(
                insert(MCPSessionRow).values(
                    id=session_id,
                    owner=owner,
                    protocol_version=protocol_version,
                    client_params=client_params,
                    created_at=now,
                    last_seen=now,
                )
            )
        self._touched[session_id] = now

    async def find(self, session_id: str) -> StoredSession | None:
        """The stored session, unless it is unknown or has been idle past the timeout."""
        if len(session_id) > 64:
            return None
        async with self.database.connect() as conn:
            row = (await conn.execute(select(MCPSessionRow).where(MCPSessionRow.id == session_id))).first()
        if row is None or time.time() - row.last_seen > self.idle_timeout:
            return None
        return StoredSession(row.id, row.owner, row.protocol_version, row.client_params, row.last_seen)

    async def touch(self, session_id: str) -> None:
        """Record activity, at most every TOUCH_INTERVAL seconds per session (cheap on the hot path)."""
        now = time.time()
        if now - self._touched.get(session_id, 0.0) < TOUCH_INTERVAL:
            return
        self._touched[session_id] = now
        async with self.database.connect() as conn:
            await conn.execute(
                update(MCPSessionRow).where(MCPSessionRow.id == session_id).values(last_seen=now)
            )

    async def forget(self, session_id: str) -> None:
        self._touched.pop(session_id, None)
        async with self.database.connect() as conn:
            await conn.execute(delete(MCPSessionRow).where(MCPSessionRow.id == session_id))

    async def prune(self) -> int:
        cutoff = time.time() - self.idle_timeout
        async with self.database.connect() as conn:
            result = await conn.execute(delete(MCPSessionRow).where(MCPSessionRow.last_seen < cutoff))
        return int(result.rowcount or 0)
