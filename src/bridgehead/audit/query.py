"""Reading the audit trail back: filtering, tailing and JSON export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from bridgehead.store import Database
from bridgehead.store.models import AuditEventRow

COLUMNS = (
    "id", "at", "user_id", "username", "client_id", "tool", "arguments", "result", "is_error", "decision",
    "reason", "duration_ms", "transport", "session_id", "request_id",
)  # fmt: skip


def event_dict(row: Any) -> dict[str, Any]:
    """An audit row as a JSON-ready dict (with an ISO timestamp next to the epoch seconds)."""
    from datetime import UTC, datetime

    data = {column: getattr(row, column) for column in COLUMNS}
    data["time"] = (
        datetime.fromtimestamp(row.at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    return data


async def events(
    database: Database,
    *,
    since: float | None = None,
    until: float | None = None,
    after_id: int | None = None,
    tool: str | None = None,
    username: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
    batch: int = 1000,
) -> AsyncIterator[dict[str, Any]]:
    """Events matching the filters, streamed in id order (or newest first)."""
    produced = 0
    cursor = after_id
    while limit is None or produced < limit:
        query = select(AuditEventRow)
        if since is not None:
            query = query.where(AuditEventRow.at >= since)
        if until is not None:
            query = query.where(AuditEventRow.at < until)
        if tool is not None:
            query = query.where(AuditEventRow.tool == tool)
        if username is not None:
            query = query.where(AuditEventRow.username == username)
        if cursor is not None:
            query = query.where(AuditEventRow.id < cursor if newest_first else AuditEventRow.id > cursor)
        query = query.order_by(AuditEventRow.id.desc() if newest_first else AuditEventRow.id)
        size = batch if limit is None else min(batch, limit - produced)
        async with database.connect() as conn:
            rows = (await conn.execute(query.limit(size))).all()
        if not rows:
            return
        for row in rows:
            yield event_dict(row)
        produced += len(rows)
        cursor = rows[-1].id
        if len(rows) < size:
            return
