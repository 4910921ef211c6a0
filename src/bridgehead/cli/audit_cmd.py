"""``bridgehead audit …``: read the audit trail (tail, follow, export)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from bridgehead.audit.log import AuditLog
from bridgehead.audit.query import events
from bridgehead.cli.common import ConfigOption, console, err_console, load_or_exit, run
from bridgehead.store import Database

app = typer.Typer(help="Read the audit trail of tool calls.", no_args_is_help=True)


def parse_time(value: str | None) -> float | None:
    """ISO dates/times ('2026-11-01', '2026-11-01T08:00', with or without Z) or relative ('15m', '2h', '7d')."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC).timestamp() - int(value[:-1]) * units[value[-1]]
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO date/time nor a duration like 15m, 2h, 7d"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _row(table: Table, event: dict[str, Any]) -> None:
    outcome = "error" if event["is_error"] else "ok"
    table.add_row(
        str(event["id"]),
        event["time"],
        event["username"] or "-",
        event["tool"],
        event["decision"],
        outcome,
        f"{event['duration_ms']:.1f}",
        orjson.dumps(event["arguments"]).decode()[:60],
    )


def _table() -> Table:
    table = Table()
    for column in ("id", "time", "user", "tool", "decision", "result", "ms", "arguments"):
        table.add_column(column, overflow="fold")
    return table


@app.command("tail")
def tail(
    config: ConfigOption = None,
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10_000)] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 1.0,
    max_seconds: Annotated[float | None, typer.Option(help="Stop following after this long.")] = None,
) -> None:
    """Print the newest events; with --follow keep printing new ones as they are committed."""
    settings = load_or_exit(config)
    run(_tail(Database(settings.store_url()), lines, follow, as_json, interval, max_seconds))


async def _tail(
    database: Database, lines: int, follow: bool, as_json: bool, interval: float, max_seconds: float | None
) -> None:
    await database.migrate()
    try:
        newest = [e async for e in events(database, limit=lines, newest_first=True)]
        last_id = newest[0]["id"] if newest else 0
        _emit(list(reversed(newest)), as_json)
        started = asyncio.get_running_loop().time()
        while follow:
            if max_seconds is not None and asyncio.get_running_loop().time() - started > max_seconds:
                break
            await asyncio.sleep(interval)
            fresh = [e async for e in events(database, after_id=last_id)]
            if fresh:
                last_id = fresh[-1]["id"]
                _emit(fresh, as_json)
    finally:
        await database.close()


def _emit(batch: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for event in batch:
            sys.stdout.write(orjson.dumps(event).decode() + "\n")
        sys.stdout.flush()
        return
    if batch:
        table = _table()
        for event in batch:
            _row(table, event)
        console.print(table)


@app.command("export")
def export(
    config: ConfigOption = None,
    since: Annotated[
        str | None, typer.Option(help="ISO date/time, or a duration back from now (7d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time (exclusive).")] = None,
    tool: Annotated[str | None, typer.Option(help="Only this tool.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this username.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="jsonl (one event per line).")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export events as JSON lines, oldest first."""
    if output_format != "jsonl":
        err_console.print(f"[red]unsupported format {output_format!r}; use jsonl[/]")
        raise typer.Exit(2)
    settings = load_or_exit(config)
    count = run(
        _export(Database(settings.store_url()), parse_time(since), parse_time(until), tool, user, output)
    )
    err_console.print(f"exported {count} event(s)")


async def _export(
    database: Database,
    since: float | None,
    until: float | None,
    tool: str | None,
    user: str | None,
    output: Path | None,
) -> int:
    await database.migrate()
    count = 0
    stream = output.open("wb") if output else sys.stdout.buffer
    try:
        async for event in events(database, since=since, until=until, tool=tool, username=user):
            stream.write(orjson.dumps(event) + b"\n")
            count += 1
    finally:
        if output:
            stream.close()
        else:
            stream.flush()
        await database.close()
    return count


@app.command("prune")
def prune(config: ConfigOption = None) -> None:
    """Delete events older than audit.retention_days now (the server also does this hourly)."""
    settings = load_or_exit(config)

    async def go() -> int:
        database = Database(settings.store_url())
        await database.migrate()
        try:
            return await AuditLog(database, settings.audit).prune()
        finally:
            await database.close()

    console.print(f"deleted {run(go())} event(s) older than {settings.audit.retention_days} days")
