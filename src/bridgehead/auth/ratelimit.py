"""A sliding-window limiter for login attempts, per account and per address."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class SlidingWindowLimiter:
    """At most ``limit`` events per key within ``window`` seconds (process-local)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and now - events[0] > self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return deque()
        return events

    def blocked(self, key: str) -> bool:
        return len(self._prune(key, time.monotonic())) >= self.limit

    def retry_after(self, key: str) -> int:
        events = self._prune(key, time.monotonic())
        if len(events) < self.limit:
            return 0
        return max(1, int(self.window - (time.monotonic() - events[0])) + 1)

    def hit(self, key: str) -> None:
        now = time.monotonic()
        self._prune(key, now)
        self._events[key].append(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)
