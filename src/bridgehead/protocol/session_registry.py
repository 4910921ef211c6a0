"""Streamable HTTP sessions in the store, so a session outlives a restart, spans workers and need
not stay in memory while idle.

A session id the process does not hold (it restarted, another worker or
replica created it, or the session left memory while idle) is looked up here; when found, for the same principal and
not expired, the session is re-opened with its negotiated protocol version and
client parameters instead of answering 404. Truly unknown or expired ids still
get 404, as the spec requires, and the client re-initializes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import delete, insert, select, update

from bridgehead.store import Database
from bridgehead.store.models import MCPSessionRow

logger = logging.getLogger(__name__)

TOUCH_INTERVAL = 30.0
"""Activity is written at most this often per session, and at most every tenth of the idle timeout."""
PRUNE_INTERVAL = 300.0
TOUCH_BATCH = 500
"""Session ids per statement in ``touch_many``, well under every backend's limit on bound parameters."""


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
        # A stored last_seen lags real activity by at most this, so a session is never
        # judged expired more than a tenth of the timeout early.
        self.touch_interval = min(TOUCH_INTERVAL, idle_timeout / 10)
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

    async def touch(self, session_id: str, at: float | None = None) -> None:
        """Record activity (now, or at the time ``at``), at most every ``touch_interval`` seconds per
        session, so it is cheap on the hot path. A later time already stored is kept."""
        when = time.time() if at is None else at
        if when - self._touched.get(session_id, 0.0) < self.touch_interval:
            return
        self._touched[session_id] = when
        async with self.database.connect() as conn:
            await conn.execute(
                update(MCPSessionRow)
                .where(MCPSessionRow.id == session_id, MCPSessionRow.last_seen < when)
                .values(last_seen=when)
            )

    async def touch_many(self, session_ids: list[str]) -> None:
        """Record activity now for sessions busy without requests (an open GET stream), in batched writes."""
        now = time.time()
        for start in range(0, len(session_ids), TOUCH_BATCH):
            batch = session_ids[start : start + TOUCH_BATCH]
            async with self.database.connect() as conn:
                await conn.execute(
                    update(MCPSessionRow)
                    .where(MCPSessionRow.id.in_(batch), MCPSessionRow.last_seen < now)
                    .values(last_seen=now)
                )
            for session_id in batch:
                self._touched[session_id] = now

    async def forget(self, session_id: str) -> None:
        self._touched.pop(session_id, None)
        async with self.database.connect() as conn:
            await conn.execute(delete(MCPSessionRow).where(MCPSessionRow.id == session_id))

    async def prune(self) -> int:
        """Delete the sessions idle past the timeout; returns how many."""
        cutoff = time.time() - self.idle_timeout
        for session_id in [k for k, at in self._touched.items() if at < cutoff]:
            del self._touched[session_id]
        async with self.database.connect() as conn:
            result = await conn.execute(delete(MCPSessionRow).where(MCPSessionRow.last_seen < cutoff))
        return int(result.rowcount or 0)

    async def keep_pruned(self) -> None:
        """Prune every PRUNE_INTERVAL seconds (or every idle timeout, when shorter), until cancelled."""
        interval = min(PRUNE_INTERVAL, self.idle_timeout)
        while True:
            await anyio.sleep(interval)
            try:
                await self.prune()
            except Exception:  # the store may be briefly unreachable; expired rows are refused anyway
                logger.exception("could not prune expired sessions")
