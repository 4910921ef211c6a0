"""Options and helpers shared by the commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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


class CommandError(Exception):
    """Bad input, or an operation that cannot be done as asked: one line on stderr, exit status 1."""


@contextmanager
def reported(*errors: type[Exception]) -> Iterator[None]:
    """Turn CommandError (and the given exception types) into one line on stderr and exit status 1."""
    caught: tuple[type[Exception], ...] = (CommandError, *errors)
    try:
        yield
    except caught as exc:
        # soft_wrap: the message stays one line however narrow the terminal.
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from exc


def run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


def _as_datetime(value: datetime | int) -> datetime:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else value.astimezone(UTC)


def shown_time(value: datetime | int | None, missing: str = "never") -> str:
    """A moment (aware datetime or Unix seconds) for a table: ``2025-06-01 14:03 UTC``."""
    return _as_datetime(value).strftime("%Y-%m-%d %H:%M UTC") if value is not None else missing


def iso_time(value: datetime | int | None) -> str | None:
    """A moment for JSON output: ISO 8601 in UTC, or None."""
    return _as_datetime(value).isoformat(timespec="seconds") if value is not None else None
