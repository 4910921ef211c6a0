"""Options and helpers shared by the commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from bridgehead.config import ConfigError, Settings, load_settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $BRIDGEHEAD_CONFIG, else built-in defaults).",
        exists=False,
        dir_okay=False,
    ),
]


def load_or_exit(config: Path | None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Load settings, or print every problem and exit with status 2."""
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(2) from exc


def report_config_error(exc: ConfigError) -> None:
    err_console.print(f"[bold red]Invalid configuration[/] ({len(exc.problems)} problem(s)):")
    for problem in exc.problems:
        err_console.print(f"  • {problem}", markup=False, highlight=False)


def run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())
