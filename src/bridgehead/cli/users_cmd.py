"""``bridgehead users …``: local accounts for Bridgehead's own sign-in page."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from bridgehead.auth.users import User, UserError
from bridgehead.cli.auth_stores import AuthStores, revocation_note, run_on_stores
from bridgehead.cli.common import (
    CommandError,
    ConfigOption,
    console,
    err_console,
    iso_time,
    load_or_exit,
    reported,
    shown_time,
)
from bridgehead.config import Settings

app = typer.Typer(
    help="Manage local users: add, list, disable, change roles and passwords.", no_args_is_help=True
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

NameArgument = Annotated[str, typer.Argument(help="The username.", show_default=False)]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one line) instead of asking for it.",
    ),
]


def read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or typed twice at a hidden prompt. Never a command-line argument."""
    if from_stdin:
        password = sys.stdin.read().rstrip("\r\n")
        if "\n" in password or "\r" in password:
            raise CommandError("--password-stdin reads one line, and standard input held several")
        if not password:
            raise CommandError("--password-stdin found no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password on; pipe it in with --password-stdin")
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return typed


def check_role(settings: Settings, role: str) -> None:
    """Refuse a role the configuration does not define, before anything is asked or written."""
    if role not in settings.auth.roles:
        raise CommandError(f"unknown role {role!r} (configured: {', '.join(sorted(settings.auth.roles))})")


@app.command("add")
def add(
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help="One of the roles in auth.roles.", show_default=False)],
    email: Annotated[str | None, typer.Option("--email", help="The user's email address.")] = None,
    password_stdin: PasswordStdinOption = False,
    config: ConfigOption = None,
) -> None:
    """Add a local user who signs in with a password."""
    settings = load_or_exit(config)
    with reported(UserError):
        check_role(settings, role)
        if email is not None and (len(email) > 320 or not EMAIL.match(email)):
            raise CommandError(f"{email!r} is not an email address")
        password = read_password(password_stdin)

        async def action(stores: AuthStores) -> User:
            return await stores.users.add(name, password, role, email=email)

        user = run_on_stores(settings, action)
    console.print(f"Added user [bold]{escape(user.username)}[/] with role [bold]{escape(user.role)}[/].")


@app.command("list")
def list_users(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List users: role, whether disabled, identity provider and last sign-in."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> tuple[list[User], dict[str, datetime | None]]:
        return await stores.users.list(), await stores.last_logins()

    with reported():
        users, last_logins = run_on_stores(settings, action)
    if as_json:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "disabled": u.disabled,
                "email": u.email,
                "issuer": u.issuer,
                "last_login": iso_time(last_logins.get(u.id)),
            }
            for u in users
        ]
        typer.echo(orjson.dumps({"users": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    if not users:
        console.print("No users yet. Add one with: bridgehead users add NAME --role ROLE")
        return
    table = Table(title=f"{len(users)} user(s)")
    for column in ("username", "role", "disabled", "email", "federated issuer", "last login"):
        table.add_column(column)
    for user in users:
        role = escape(user.role)
        if user.role not in settings.auth.roles:
            role += " [yellow](not configured)[/]"
        table.add_row(
            escape(user.username),
            role,
            "[red]yes[/]" if user.disabled else "no",
            escape(user.email or ""),
            escape(user.issuer or "—"),
            shown_time(last_logins.get(user.id)),
        )
    console.print(table)


@app.command("disable")
def disable(name: NameArgument, config: ConfigOption = None) -> None:
    """Disable a user: no more sign-ins, and every token they hold stops working."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> int:
        user = await stores.user(name)
        await stores.users.set_disabled(user.username, True)
        revoked = await stores.grants.revoke_user(user.id)
        await stores.users.invalidate_tokens(user.id)
        return revoked

    with reported(UserError):
        revoked = run_on_stores(settings, action)
    console.print(
        f"Disabled [bold]{escape(name)}[/]: {revoked} grant(s) revoked and every access token refused "
        f"({revocation_note()})."
    )


@app.command("enable")
def enable(name: NameArgument, config: ConfigOption = None) -> None:
    """Enable a disabled user again. Tokens revoked when they were disabled stay revoked."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> None:
        await stores.users.set_disabled((await stores.user(name)).username, False)

    with reported(UserError):
        run_on_stores(settings, action)
    console.print(f"Enabled [bold]{escape(name)}[/]; their apps need to connect again.")


@app.command("set-role")
def set_role(
    name: NameArgument,
    role: Annotated[str, typer.Argument(help="One of the roles in auth.roles.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Change a user's role. Their access tokens are refused from now on, so clients refresh into the new role."""
    settings = load_or_exit(config)

    async def action(stores: AuthStores) -> User | None:
        user = await stores.user(name)
        if user.role == role:
            return None
        # An access token carries the role it was issued with: retire the live ones.
        await stores.users.set_role(user.username, role)
        await stores.users.invalidate_tokens(user.id)
        return user

    with reported(UserError):
        check_role(settings, role)
        before = run_on_stores(settings, action)
    if before is None:
        console.print(f"[bold]{escape(name)}[/] already has role [bold]{escape(role)}[/].")
        return
    console.print(
        f"[bold]{escape(name)}[/]: role {escape(before.role)} → [bold]{escape(role)}[/]. Their access "
        f"tokens are refused ({revocation_note()}); apps refresh into the new role."
    )
    if before.federated:
        err_console.print(
            f"[yellow]Note:[/] {escape(name)} signs in through {escape(before.issuer or '')}; "
            "federation.role_mapping sets their role again at their next sign-in.",
            soft_wrap=True,
        )


@app.command("passwd")
def passwd(
    name: NameArgument, password_stdin: PasswordStdinOption = False, config: ConfigOption = None
) -> None:
    """Set a local user's password."""
    settings = load_or_exit(config)

    async def find(stores: AuthStores) -> User:
        return await stores.user(name)

    async def change(stores: AuthStores) -> None:
        await stores.users.set_password(name, password)

    with reported(UserError):
        user = run_on_stores(settings, find)
        if user.federated:
            raise CommandError(
                f"{name!r} signs in through {user.issuer} and has no Bridgehead password to set"
            )
        password = read_password(password_stdin)
        run_on_stores(settings, change)
    console.print(f"Password of [bold]{escape(name)}[/] changed.")
