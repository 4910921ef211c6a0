"""The durable audit log with group commit.

A call is acknowledged only after its event is committed, but calls do not
each pay for a commit: they queue their events and wait on one shared flush.
The flusher commits whatever is queued as soon as it is free (after one turn
of the event loop), so a lone call waits for one commit, and under load
everything that queued up during one commit goes into the next
(``flush_interval_ms`` adds an optional wait). An acknowledged call is
therefore never lost, even if the process is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import delete

from bridgehead.audit.records import AuditEvent, Redactor
from bridgehead.audit.writer import COLUMNS, AuditRow, AuditWriter, EngineWriter, writer_for
from bridgehead.config import AuditSettings
from bridgehead.store import Database
from bridgehead.store.models import AuditEventRow

logger = logging.getLogger(__name__)

MAX_BATCH = 512
PRUNE_INTERVAL = 3600.0
# The fields redacted before they are stored: an event's last three (see AuditEvent).
_REDACTED = ("reason", "arguments", "result")
assert COLUMNS[-len(_REDACTED) :] == _REDACTED


class AuditError(Exception):
    """The event could not be made durable."""


class AuditLog:
    """Queues events, commits them in groups, and prunes by retention."""

    def __init__(self, database: Database, settings: AuditSettings) -> None:
        self.database = database
        self.settings = settings
        self.redactor = Redactor(settings.redact_fields, settings.redact_patterns, settings.max_payload_bytes)
        self._pending: list[tuple[AuditRow, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The loop the flusher runs on, kept: asking for the running loop is a getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        # Outside the server (CLI, tests) events go straight through the engine.
        self._writer: AuditWriter = EngineWriter(database)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self._closing = False
        self._wake = asyncio.Event()
        await self.prune()
        self._writer = writer_for(self.database)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="bridgehead-audit-flusher")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = self._loop = None
        self._writer.close()
        self._writer = EngineWriter(self.database)

    def row(self, event: AuditEvent) -> AuditRow:
        """What the store keeps of ``event``: its reason and payloads redacted, the payloads as JSON text."""
        arguments, result = self.redactor.pair(event.arguments, event.result)
        return (*event[: -len(_REDACTED)], self.redactor.text(event.reason), arguments, result)

    async def record(self, event: AuditEvent) -> None:
        """Return once ``event`` is committed; raise AuditError if it could not be."""
        if not self.enabled:
            return
        row = self.row(event)
        if self._task is None or self._loop is None:
            # Not running inside the server (a CLI or a test): write straight through.
            await self._write([row])
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((row, future))
        if len(self._pending) >= MAX_BATCH:
            self._wake.set()
        elif len(self._pending) == 1:
            self._wake.set()
        await future

    async def _run(self) -> None:
        interval = self.settings.flush_interval_ms / 1000
        last_prune = time.monotonic()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if interval > 0 and not self._closing and len(self._pending) < MAX_BATCH:
                # An optional extra window for concurrent calls to join this commit.
                await asyncio.sleep(interval)
            else:
                # One turn of the loop first: calls that became ready along with the one that woke
                # the flusher record their events too, so under load a commit carries about twice
                # as many (at 16 connections, 15.6 instead of 7.2 on average) for the same cost.
                await asyncio.sleep(0)
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    await self._write([row for row, _ in batch])
                except Exception as exc:
                    logger.exception("audit flush failed for %d events", len(batch))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(AuditError(f"the audit log could not be written: {exc}"))
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
            if self._closing:
                return
            if time.monotonic() - last_prune > PRUNE_INTERVAL:
                last_prune = time.monotonic()
                try:
                    await self.prune()
                except Exception:
                    logger.exception("audit retention pruning failed")

    async def _write(self, rows: list[AuditRow]) -> None:
        await self._writer.write(rows)

    async def prune(self) -> int:
        """Delete events older than the retention period; returns how many."""
        if self.settings.retention_days == 0:
            return 0
        cutoff = time.time() - self.settings.retention_days * 86_400
        async with self.database.connect() as conn:
            result = await conn.execute(delete(AuditEventRow).where(AuditEventRow.at < cutoff))
        return int(result.rowcount or 0)
