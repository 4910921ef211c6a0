"""``bridgehead tools``: the tool surface exactly as a client will see it."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from bridgehead.cli.common import ConfigOption, console, load_or_exit, report_config_error
from bridgehead.config import ConfigError
from bridgehead.runtime import Runtime


def tools(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tools/list result as JSON.")] = False,
) -> None:
    """Print the tool surface exactly as a client will see it in tools/list."""
    settings = load_or_exit(config)
    try:
        runtime = Runtime.create(settings)
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(2) from exc
    listing = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in runtime.surface.listing]
    if as_json:
        typer.echo(orjson.dumps({"tools": listing}, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title=f"{len(listing)} tool(s) · fingerprint {runtime.surface.fingerprint()}")
    for column in ("name", "title", "read-only", "destructive", "arguments"):
        table.add_column(column)
    for tool in listing:
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
            arguments,
        )
    console.print(table)
    console.print("* required argument. Use --json for the exact tools/list payload.")
