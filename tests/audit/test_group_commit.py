"""The audit log's group commit, on a real store: batching, a store that is locked, a failing batch, stop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

from bridgehead.audit import AuditEvent, AuditLog
from bridgehead.audit.log import AuditError
from bridgehead.audit.query import events
from bridgehead.config import AuditSettings
from bridgehead.store import Database


def event(n: int, tool: str = "echo") -> AuditEvent:
    return AuditEvent(
        at=1_700_000_000.0 + n, user_id=None, username="ada", client_id=None, tool=tool, is_error=False,
        decision="allowed", duration_ms=0.5, transport="streamable-http", session_id=None,
        request_id=str(n), reason="auth mode none", arguments={"n": n}, result={"ok": n},
    )  # fmt: skip


async def stored(database: Database) -> list[dict[str, Any]]:
    return [e async for e in events(database)]


class CountingWrites:
    """Counts the batches the log hands its writer (the writer itself is the real one)."""

    def __init__(self, log: AuditLog) -> None:
        self.sizes: list[int] = []
        writer = log._writer
        write_now, write = writer.write_now, writer.write

        def counted_now(rows: list[Any]) -> bool:
            done = write_now(rows)
            if done:
                self.sizes.append(len(rows))
            return done

        async def counted(rows: list[Any]) -> None:
            await write(rows)
            self.sizes.append(len(rows))

        writer.write_now = counted_now  # type: ignore[method-assign]
        writer.write = counted  # type: ignore[method-assign]


async def test_concurrent_calls_share_a_commit(database: Database) -> None:
    log = AuditLog(database, AuditSettings())
    await log.start()
    writes = CountingWrites(log)
    try:
        await asyncio.gather(*(log.record(event(n)) for n in range(40)))
        await log.record(event(40))  # a lone call gets its own commit
    finally:
        await log.stop()
    assert writes.sizes == [40, 1]
    rows = await stored(database)
    assert [row["arguments"] for row in rows] == [{"n": n} for n in range(41)]


async def test_flush_interval_gathers_calls_that_come_later(database: Database) -> None:
    log = AuditLog(database, AuditSettings(flush_interval_ms=100))
    await log.start()
    writes = CountingWrites(log)

    async def late(n: int) -> None:
        await asyncio.sleep(0.02)
        await log.record(event(n))

    try:
        started = time.monotonic()
        await asyncio.gather(log.record(event(0)), late(1), late(2))
        waited = time.monotonic() - started
    finally:
        await log.stop()
    assert writes.sizes == [3]
    assert waited >= 0.09


async def test_calls_wait_while_another_connection_holds_the_store(tmp_path: Any) -> None:
    """A locked SQLite store: the batch waits off the loop (which keeps serving), then commits;
    what queued meanwhile follows it. Nothing is acknowledged before it is stored."""
    path = tmp_path / "store.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.migrate()
    log = AuditLog(database, AuditSettings())
    await log.start()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer (an index pass, a migration)
    try:
        first = asyncio.ensure_future(log.record(event(0)))
        ticks = 0
        while ticks < 20:  # the loop is not blocked by the waiting write
            await asyncio.sleep(0.01)
            ticks += 1
        second = asyncio.ensure_future(log.record(event(1)))
        await asyncio.sleep(0.05)
        assert not first.done() and not second.done()
        threading.Timer(0.1, holder.execute, ("COMMIT",)).start()
        await asyncio.wait_for(asyncio.gather(first, second), timeout=30)
    finally:
        await log.stop()
        holder.close()
    assert [row["request_id"] for row in await stored(database)] == ["0", "1"]
    await database.close()


async def test_a_failing_batch_fails_its_calls_only(database: Database) -> None:
    log = AuditLog(database, AuditSettings())
    await log.start()
    try:
        bad = event(0)._replace(tool=None)  # NOT NULL: the store refuses the row, and so its batch
        results = await asyncio.gather(log.record(bad), log.record(event(1)), return_exceptions=True)
        assert all(isinstance(result, AuditError) for result in results)
        await log.record(event(2))  # the next batch is unaffected
    finally:
        await log.stop()
    assert [row["request_id"] for row in await stored(database)] == ["2"]


async def test_stop_commits_what_is_queued(database: Database) -> None:
    log = AuditLog(database, AuditSettings(flush_interval_ms=1000))
    await log.start()
    waiting = [asyncio.ensure_future(log.record(event(n))) for n in range(5)]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in waiting)
    await log.stop()
    await asyncio.gather(*waiting)
    assert len(await stored(database)) == 5


async def test_disabled_log_records_nothing(database: Database) -> None:
    log = AuditLog(database, AuditSettings(enabled=False))
    await log.start()
    await log.record(event(0))
    await log.stop()
    assert await stored(database) == []
