"""``bridgehead tools``: the tool surface exactly as a client will see it, and its history."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from bridgehead.cli.common import ConfigOption, console, err_console, load_or_exit, report_config_error, run
from bridgehead.config import ConfigError
from bridgehead.protocol.surface_history import diff_surfaces, versions
from bridgehead.runtime import Runtime
from bridgehead.store import Database

app = typer.Typer(help="The tool surface clients see, and how it changed.", invoke_without_command=True)


@app.callback()
def tools(
    ctx: typer.Context,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tools/list result as JSON.")] = False,
) -> None:
    """Print the tool surface exactly as a client will see it in tools/list."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_or_exit(config)
    try:
        runtime = Runtime.create(settings)
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(2) from exc
    listing = runtime.surface.wire()
    if as_json:
        typer.echo(orjson.dumps({"tools": listing}, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title=f"{len(listing)} tool(s) · fingerprint {runtime.surface.fingerprint()}")
    for column in ("name", "title", "read-only", "destructive", "scopes", "arguments"):
        table.add_column(column)
    for tool, spec in zip(listing, runtime.surface.tools, strict=True):
        hints = tool.get("annotations", {})
        arguments = ", ".join(
            f"{name}{'*' if name in tool['inputSchema'].get('required', []) else ''}"
            for name in tool["inputSchema"].get("properties", {})
        )
        table.add_row(
            tool["name"],
            tool.get("title", ""),
            str(hints.get("readOnlyHint")),
            str(hints.get("destructiveHint")),
            " ".join(runtime.policy.required_scopes(spec)),
            arguments,
        )
    console.print(table)
    console.print(
        f"* required argument. Auth mode: {settings.auth.mode}. Use --json for the exact tools/list payload."
    )


@app.command("history")
def history(config: ConfigOption = None) -> None:
    """List the recorded versions of the tool surface."""
    settings = load_or_exit(config)
    found = run(_versions(settings.store_url()))
    table = Table(title="tool surface versions")
    for column in ("version", "recorded", "fingerprint", "tools", "change"):
        table.add_column(column)
    from datetime import UTC, datetime

    for version in found:
        when = datetime.fromtimestamp(version.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        first = version.diff.splitlines()[0] if version.diff else ""
        table.add_row(str(version.id), when, version.fingerprint, str(len(version.tools)), first)
    console.print(table)


@app.command("diff")
def diff(
    config: ConfigOption = None,
    from_version: Annotated[
        int | None, typer.Option("--from", help="Older version (default: the one before --to).")
    ] = None,
    to_version: Annotated[
        int | None, typer.Option("--to", help="Newer version (default: the newest).")
    ] = None,
) -> None:
    """Show what changed between two versions of the tool surface (default: the last change)."""
    settings = load_or_exit(config)
    found = {v.id: v for v in run(_versions(settings.store_url()))}
    if not found:
        err_console.print("No tool surface has been recorded yet: start the server once.")
        raise typer.Exit(1)
    newest = to_version if to_version is not None else max(found)
    older_ids = [i for i in found if i < newest]
    oldest = from_version if from_version is not None else (max(older_ids) if older_ids else None)
    if newest not in found or (oldest is not None and oldest not in found):
        err_console.print(f"Unknown version; recorded versions are {', '.join(map(str, sorted(found)))}")
        raise typer.Exit(1)
    before = found[oldest].tools if oldest is not None else []
    console.print(f"[bold]tool surface {oldest or 'empty'} → {newest}[/]")
    console.print(diff_surfaces(before, found[newest].tools), markup=False, highlight=False)


async def _versions(url: str) -> list:  # type: ignore[type-arg]
    database = Database(url)
    try:
        await database.migrate()
        return await versions(database)
    finally:
        await database.close()
