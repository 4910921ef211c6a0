"""``bridgehead config …``: validate configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridgehead.cli.common import console, report_config_error
from bridgehead.config import ConfigError, load_settings
from bridgehead.connectors.base import ConnectorContext
from bridgehead.connectors.registry import build_connectors, collect_tools
from bridgehead.store import Database

app = typer.Typer(help="Validate configuration.", no_args_is_help=True)


@app.command("check")
def check(
    config: Annotated[Path, typer.Option("--config", "-c", help="The TOML file to check.")] = Path(
        "bridgehead.toml"
    ),
) -> None:
    """Validate a configuration file and print every problem with its location."""
    try:
        settings = load_settings(config)
        database = Database(settings.store_url())
        connectors = build_connectors(settings.connector_configs(), ConnectorContext(settings, database))
        tools = collect_tools(connectors)
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(1) from exc
    console.print(f"[green]OK[/]: {config} is valid ({len(connectors)} connector(s), {len(tools)} tool(s)).")
