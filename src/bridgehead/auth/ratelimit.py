"""A sliding-window limiter for sign-in attempts, per account and per address.

Events live in the store, so every worker and replica counts the same
attempts: ``--workers 4`` must not give an attacker four times the tries.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import delete, func, insert, select

from bridgehead.store import Database
from bridgehead.store.models import RateEventRow


def _key(raw: str) -> str:
    # Usernames and addresses are hashed: the table should not be a list of who tried to sign in.
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class SlidingWindowLimiter:
    """At most ``limit`` events per key within ``window`` seconds, counted in the store."""

    def __init__(self, database: Database, limit: int, window: float) -> None:
        self.database = database
        self.limit = limit
        self.window = window

    async def _recent(self, key: str) -> list[float]:
        since = time.time() - self.window
        async with self.database.connect() as conn:
            rows = await conn.execute(
                select(RateEventRow.at)
                .where(RateEventRow.key == _key(key), RateEventRow.at > since)
                .order_by(RateEventRow.at)
            )
            return [float(r.at) for r in rows]

    async def blocked(self, key: str) -> bool:
        return len(await self._recent(key)) >= self.limit

    async def retry_after(self, key: str) -> int:
        events = await self._recent(key)
        if len(events) < self.limit:
            return 0
        return max(1, int(self.window - (time.time() - events[-self.limit])) + 1)

    async def hit(self, key: str) -> None:
        now = time.time()
        async with self.database.connect() as conn:
            await conn.execute(insert(RateEventRow).values(key=_key(key), at=now))
            # Keep the table small: drop what no window can see any more.
            count = await conn.scalar(select(func.count()).select_from(RateEventRow))
            if count and count > 10_000:
                await conn.execute(delete(RateEventRow).where(RateEventRow.at < now - self.window))

    async def reset(self, key: str) -> None:
        async with self.database.connect() as conn:
            await conn.execute(delete(RateEventRow).where(RateEventRow.key == _key(key)))
