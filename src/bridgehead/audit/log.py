"""The durable audit log with group commit.

A call is acknowledged only after its event is committed, but calls do not
each pay for a commit: they queue their events and wait on one shared flush.
A flush runs one turn of the event loop after the first event queues (calls
that became ready along with it queue theirs too), so a lone call waits for
one commit, and under load everything that queued up during one commit goes
into the next (``flush_interval_ms`` adds an optional wait). An acknowledged
call is therefore never lost, even if the process is killed.

The flush is a plain loop callback, not a task: on SQLite the batch commits
right there (see ``SQLiteWriter``), and a task's wake-ups and an Event's
futures cost more than the commit of a lone call. Writes that must wait (the
engine, a locked store) run as a task, and the next flush follows it.
"""

from __future__ import annotations

import asyncio
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

Pending = list[tuple[AuditRow, "asyncio.Future[None]"]]


class AuditError(Exception):
    """The event could not be made durable."""


def _committed(batch: Pending) -> None:
    for _, future in batch:
        if not future.done():  # its caller may have gone away meanwhile
            future.set_result(None)


def _failed(batch: Pending, exc: Exception) -> None:
    logger.error("audit flush failed for %d events", len(batch), exc_info=exc)
    for _, future in batch:
        if not future.done():
            future.set_exception(AuditError(f"the audit log could not be written: {exc}"))


class AuditLog:
    """Queues events, commits them in groups, and prunes by retention."""

    def __init__(self, database: Database, settings: AuditSettings) -> None:
        self.database = database
        self.settings = settings
        self.redactor = Redactor(settings.redact_fields, settings.redact_patterns, settings.max_payload_bytes)
        self._pending: Pending = []
        # The loop flushes run on, kept: asking for the running loop is a getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        # A write that had to wait (see the module's docstring); flushes wait for it.
        self._waiting_write: asyncio.Task[None] | None = None
        self._pruning: asyncio.Task[None] | None = None
        self._prune_timer: asyncio.TimerHandle | None = None
        # Outside the server (CLI, tests) events go straight through the engine.
        self._writer: AuditWriter = EngineWriter(database)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def start(self) -> None:
        if not self.enabled or self._loop is not None:
            return
        await self.prune()
        self._writer = writer_for(self.database)
        self._loop = asyncio.get_running_loop()
        self._prune_timer = self._loop.call_later(PRUNE_INTERVAL, self._prune_in_background)

    async def stop(self) -> None:
        """Commit everything queued, then stop."""
        if self._loop is None:
            return
        if self._prune_timer is not None:
            self._prune_timer.cancel()
        if self._pruning is not None:
            await asyncio.gather(self._pruning, return_exceptions=True)
        while self._pending or self._waiting_write is not None:
            if self._waiting_write is not None:
                await asyncio.gather(self._waiting_write, return_exceptions=True)
            else:
                self._flush()
        self._loop = None
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
        loop = self._loop
        if loop is None:
            # Not running inside the server (a CLI or a test): write straight through.
            await self._writer.write([row])
            return
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((row, future))
        if not self._flush_scheduled and self._waiting_write is None:
            self._flush_scheduled = True
            interval = self.settings.flush_interval_ms / 1000
            if interval > 0:
                # An optional extra window for concurrent calls to join this commit.
                loop.call_later(interval, self._flush)
            else:
                # One turn of the loop first: calls that became ready along with this one record
                # their events too, so under load a commit carries about twice as many.
                loop.call_soon(loop.call_soon, self._flush)
        elif len(self._pending) == MAX_BATCH:
            loop.call_soon(self._flush)  # a full batch does not wait out the interval
        await future

    def _flush(self) -> None:
        """Commit what is queued, batch by batch; a batch that has to wait goes to a task."""
        self._flush_scheduled = False
        while self._pending and self._waiting_write is None:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            rows = [row for row, _ in batch]
            try:
                committed = self._writer.write_now(rows)
            except Exception as exc:
                _failed(batch, exc)
                continue
            if committed:
                _committed(batch)
            else:
                assert self._loop is not None
                self._waiting_write = self._loop.create_task(
                    self._write_waiting(batch, rows), name="bridgehead-audit-write"
                )

    async def _write_waiting(self, batch: Pending, rows: list[AuditRow]) -> None:
        try:
            await self._writer.write(rows)
        except Exception as exc:
            _failed(batch, exc)
        else:
            _committed(batch)
        finally:
            self._waiting_write = None
        self._flush()  # what queued meanwhile

    def _prune_in_background(self) -> None:
        async def prune() -> None:
            try:
                await self.prune()
            except Exception:
                logger.exception("audit retention pruning failed")
            finally:
                self._pruning = None

        assert self._loop is not None
        self._pruning = self._loop.create_task(prune(), name="bridgehead-audit-prune")
        self._prune_timer = self._loop.call_later(PRUNE_INTERVAL, self._prune_in_background)

    async def prune(self) -> int:
        """Delete events older than the retention period; returns how many."""
        if self.settings.retention_days == 0:
            return 0
        cutoff = time.time() - self.settings.retention_days * 86_400
        async with self.database.connect() as conn:
            result = await conn.execute(delete(AuditEventRow).where(AuditEventRow.at < cutoff))
        return int(result.rowcount or 0)
