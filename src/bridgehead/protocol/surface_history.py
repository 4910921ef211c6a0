"""Versions of the tool surface: a fingerprint, a stored copy and a readable diff for each change.

ChatGPT picks up tool changes only when someone clicks Refresh in the
connector's settings, so every change is recorded and announced.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select

from bridgehead.store import Database
from bridgehead.store.models import ToolSurfaceVersionRow


@dataclass(frozen=True)
class SurfaceVersion:
    id: int
    fingerprint: str
    created_at: float
    tools: list[dict[str, Any]]
    diff: str


def _pretty(value: Any) -> list[str]:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode().splitlines()


def diff_surfaces(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    """A readable account of what changed between two tools/list payloads."""
    before = {t["name"]: t for t in old}
    after = {t["name"]: t for t in new}
    lines: list[str] = []
    for name in sorted(after.keys() - before.keys()):
        lines.append(
            f"+ tool {name} added: {after[name].get('title') or after[name].get('description', '')[:60]}"
        )
    for name in sorted(before.keys() - after.keys()):
        lines.append(f"- tool {name} removed")
    for name in sorted(before.keys() & after.keys()):
        if before[name] == after[name]:
            continue
        fields = sorted(
            k for k in before[name].keys() | after[name].keys() if before[name].get(k) != after[name].get(k)
        )
        lines.append(f"~ tool {name} changed: {', '.join(fields)}")
        for field in fields:
            unified = difflib.unified_diff(
                _pretty(before[name].get(field)), _pretty(after[name].get(field)), f"{name}.{field} (before)",
                f"{name}.{field} (after)", lineterm="", n=1,
            )  # fmt: skip
            lines.extend("    " + line for line in unified)
    return "\n".join(lines) if lines else "no change"


def _version(row: Any) -> SurfaceVersion:
    return SurfaceVersion(row.id, row.fingerprint, row.created_at, list(row.tools), row.diff)


async def latest_version(database: Database) -> SurfaceVersion | None:
    async with database.connect() as conn:
        row = (
            await conn.execute(
                select(ToolSurfaceVersionRow).order_by(ToolSurfaceVersionRow.id.desc()).limit(1)
            )
        ).first()
    return _version(row) if row else None


async def versions(database: Database) -> list[SurfaceVersion]:
    async with database.connect() as conn:
        rows = (await conn.execute(select(ToolSurfaceVersionRow).order_by(ToolSurfaceVersionRow.id))).all()
    return [_version(r) for r in rows]


async def record_surface(
    database: Database, fingerprint: str, tools: list[dict[str, Any]]
) -> SurfaceVersion | None:
    """Store the surface if it differs from the last stored one; returns the new version, else None."""
    previous = await latest_version(database)
    if previous is not None and previous.fingerprint == fingerprint:
        return None
    diff = diff_surfaces(previous.tools if previous else [], tools)
    now = time.time()
    async with database.connect() as conn:
        result = await conn.execute(
            insert(ToolSurfaceVersionRow).values(
                fingerprint=fingerprint, created_at=now, tools=tools, diff=diff
            )
        )
        new_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    return SurfaceVersion(new_id, fingerprint, now, tools, diff)
