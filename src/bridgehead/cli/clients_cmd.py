"""``bridgehead clients …``: the OAuth clients (ChatGPT connectors and other apps) registered with Bridgehead."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from bridgehead.auth.clients import Client
from bridgehead.cli.auth_stores import AuthStores, ClientDates, revocation_note, run_on_stores
from bridgehead.cli.common import (
    CommandError,
    ConfigOption,
    console,
    iso_time,
    load_or_exit,
    reported,
    shown_time,
)

app = typer.Typer(help="List and revoke registered OAuth clients.", no_args_is_help=True)


@app.command("list")
def list_clients(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List registered clients, oldest first."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> tuple[list[Client], dict[str, ClientDates]]:
        return await stores.clients.list(), await stores.client_dates()

    with reported():
        clients, dates = run_on_stores(settings, action)
    if as_json:
        rows = [
            {
                "client_id": c.client_id,
                "name": c.display_name,
                "auth_method": c.auth_method,
                "redirect_uris": list(c.redirect_uris),
                "grant_types": list(c.grant_types),
                "kind": c.kind,
                "created_at": iso_time(dates[c.client_id].created_at if c.client_id in dates else None),
                "revoked_at": iso_time(dates[c.client_id].revoked_at if c.client_id in dates else None),
            }
            for c in clients
        ]
        typer.echo(orjson.dumps({"clients": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    if not clients:
        console.print("No clients registered yet; ChatGPT registers one when a connector is created.")
        return
    table = Table(title=f"{len(clients)} client(s)")
    for column in ("client_id", "name", "auth method", "redirect URIs", "kind", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for client in clients:
        when = dates.get(client.client_id)
        revoked = shown_time(when.revoked_at if when else None, "yes" if client.revoked else "no")
        table.add_row(
            client.client_id,
            escape(client.display_name),
            client.auth_method,
            escape("\n".join(client.redirect_uris)),
            client.kind,
            shown_time(when.created_at if when else None, ""),
            f"[red]{revoked}[/]" if client.revoked else revoked,
        )
    console.print(table)


@app.command("revoke")
def revoke(
    client_id: Annotated[str, typer.Argument(help="The client_id (see: bridgehead clients list).")],
    config: ConfigOption = None,
) -> None:
    """Revoke a client and every grant it holds: its tokens stop working and it can no longer sign users in."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> tuple[Client, bool, int]:
        client = await stores.clients.get(client_id)
        if client is None:
            raise CommandError(f"no client with client_id {client_id!r} (see: bridgehead clients list)")
        newly = await stores.clients.revoke(client_id)
        grants = await stores.grants.revoke_client(client_id)
        return client, newly, grants

    with reported():
        client, newly, grants = run_on_stores(settings, action)
    state = "Revoked" if newly else "Already revoked:"
    console.print(
        f"{state} client [bold]{escape(client.display_name)}[/] ({client_id}); {grants} grant(s) revoked "
        f"and its access tokens refused ({revocation_note()})."
    )
