"""``bridgehead keys …``: the ES256 keys that sign access tokens."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.table import Table

from bridgehead.auth.keys import RELOAD_INTERVAL
from bridgehead.cli.auth_stores import AuthStores, SigningKeyInfo, run_on_stores
from bridgehead.cli.common import ConfigOption, console, iso_time, load_or_exit, reported, shown_time

app = typer.Typer(help="List and rotate the keys that sign access tokens.", no_args_is_help=True)

STATE_STYLES = {"signing": "bold green", "verifying": "yellow", "expired": "dim"}


@app.command("list")
def list_keys(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List signing keys (public facts only), newest first."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> list[SigningKeyInfo]:
        return await stores.signing_keys()

    with reported():
        keys = run_on_stores(settings, action)
    if as_json:
        rows = [
            {
                "kid": k.kid,
                "state": k.state,
                "created_at": iso_time(k.created_at),
                "retired_at": iso_time(k.retired_at),
                "verifies_until": iso_time(k.verifies_until),
            }
            for k in keys
        ]
        typer.echo(orjson.dumps({"keys": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    if not keys:
        console.print("No signing keys yet; the server creates one when it first starts.")
        return
    table = Table(title=f"{len(keys)} signing key(s)")
    for column in ("kid", "state", "created", "retired", "verifies tokens until"):
        table.add_column(column)
    for key in keys:
        style = STATE_STYLES[key.state]
        table.add_row(
            key.kid,
            f"[{style}]{key.state}[/]",
            shown_time(key.created_at),
            shown_time(key.retired_at, "—"),
            shown_time(key.verifies_until, "—"),
        )
    console.print(table)


@app.command("rotate")
def rotate(config: ConfigOption = None) -> None:
    """Start signing with a new key. Tokens signed by the old one keep working until they expire."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> str:
        return await stores.keys.rotate()

    with reported():
        kid = run_on_stores(settings, action)
    console.print(
        f"New signing key [bold]{kid}[/]. Tokens signed by the previous key keep verifying until they "
        f"expire (at most {settings.auth.access_token_ttl} s); running servers start signing with the new "
        f"key within {RELOAD_INTERVAL:g} s."
    )
