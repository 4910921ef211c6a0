"""The ``bridgehead`` command line: one module per command group."""

from __future__ import annotations

import typer

from bridgehead import __version__
from bridgehead.cli import (
    audit_cmd,
    clients_cmd,
    config_cmd,
    doctor_cmd,
    index_cmd,
    init_cmd,
    keys_cmd,
    serve_cmd,
    tokens_cmd,
    tools_cmd,
    users_cmd,
)

app = typer.Typer(
    name="bridgehead",
    help="Bridgehead: a self-hosted MCP server for ChatGPT and every other MCP client.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_cmd.serve)
app.command("init")(init_cmd.init)
app.command("index")(index_cmd.index)
app.command("search")(index_cmd.search)
app.command("doctor")(doctor_cmd.doctor)
app.add_typer(tools_cmd.app, name="tools")
app.add_typer(config_cmd.app, name="config")
app.add_typer(users_cmd.app, name="users")
app.add_typer(clients_cmd.app, name="clients")
app.add_typer(tokens_cmd.app, name="tokens")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(audit_cmd.app, name="audit")


@app.command("version")
def version() -> None:
    """Print Bridgehead's version."""
    typer.echo(__version__)


def main() -> None:
    app()
