"""``bridgehead tokens …``: revoke what has been issued."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from bridgehead.cli.auth_stores import AuthStores, revocation_note, run_on_stores
from bridgehead.cli.common import ConfigOption, console, load_or_exit, reported

app = typer.Typer(help="Revoke issued tokens.", no_args_is_help=True)


@app.command("revoke")
def revoke(
    user: Annotated[str, typer.Option("--user", help="Revoke every token of this user.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Revoke every grant (refresh token) of a user and refuse every access token issued to them so far."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> int:
        found = await stores.user(user)
        revoked = await stores.grants.revoke_user(found.id)
        await stores.users.invalidate_tokens(found.id)
        return revoked

    with reported():
        revoked = run_on_stores(settings, action)
    console.print(
        f"Revoked {revoked} grant(s) of [bold]{escape(user)}[/] and every access token issued to them "
        f"({revocation_note()}); their apps must connect again."
    )
