"""``bridgehead doctor``: check any MCP server the way ChatGPT connects to it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from bridgehead.cli.common import console, err_console, run
from bridgehead.doctor import AuthMode, ClientAuth, DoctorOptions, SystemBrowser, diagnose, render


def doctor(
    url: Annotated[
        str, typer.Argument(help="The connector URL you give ChatGPT, e.g. https://mcp.example.com/mcp.")
    ],
    auth: Annotated[
        AuthMode,
        typer.Option(
            help="auto: follow the server; none: check it as a no-auth connector; oauth: check OAuth."
        ),
    ] = AuthMode.AUTO,
    client_auth: Annotated[
        ClientAuth,
        typer.Option(
            help="How the doctor's client authenticates at the token endpoint (ChatGPT uses basic)."
        ),
    ] = ClientAuth.BASIC,
    interactive: Annotated[
        bool,
        typer.Option(help="Sign in in a browser; the redirect is caught on a 127.0.0.1 port."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (for CI).")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the evidence of passing checks too.")
    ] = False,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            help="Trust this CA bundle (PEM) instead of the public roots.", exists=True, dir_okay=False
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds for any one request or protocol step.")
    ] = 10.0,
    search_query: Annotated[
        str | None, typer.Option(help="What the search check searches for (default: a few generic words).")
    ] = None,
) -> None:
    """Connect to an MCP server as ChatGPT does and report each step: pass, warn or fail, with evidence.

    Exit status 0 when nothing failed (warnings allowed), 1 otherwise. The OAuth checks register a client with the server's authorization server, as ChatGPT would.
    """
    if not verbose:
        # The SDK logs transport failures the doctor reports itself.
        logging.getLogger("mcp").setLevel(logging.CRITICAL)
    options = DoctorOptions(
        auth=auth,
        client_auth=client_auth,
        interactive=interactive,
        browser=SystemBrowser(
            lambda link: err_console.print(
                f"Sign in to continue (opening your browser): {link}", soft_wrap=True
            )
        ),
        ca_bundle=ca_bundle,
        timeout=timeout,
        search_query=search_query,
    )
    with err_console.status(f"Checking {url} as ChatGPT would…"):
        report = run(diagnose(url, options))
    if as_json:
        typer.echo(report.to_json())
    else:
        render(report, console, verbose=verbose)
    raise typer.Exit(report.exit_code)
