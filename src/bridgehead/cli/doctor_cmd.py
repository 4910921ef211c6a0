"""``bridgehead doctor``: check any MCP server the way ChatGPT connects to it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import typer

from bridgehead.cli.common import console, err_console, run
from bridgehead.doctor import AuthMode, ClientAuth, DoctorOptions, Profile, SystemBrowser, diagnose, render
from bridgehead.doctor.probe import is_loopback


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
    profile: Annotated[
        Profile,
        typer.Option(
            help="chatgpt: register and authenticate as ChatGPT does, and probe its known failures; "
            "spec: a client conforming to the MCP authorization spec, nothing more."
        ),
    ] = Profile.CHATGPT,
    client_auth: Annotated[
        ClientAuth,
        typer.Option(
            help="How the doctor's client asks to authenticate at the token endpoint; auto: client_secret_basic "
            "(ChatGPT's) where offered, else what the server offers. It then authenticates as registered."
        ),
    ] = ClientAuth.AUTO,
    client_id: Annotated[
        str | None, typer.Option(help="Use this pre-registered client instead of registering one.")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            help="The pre-registered client's secret (or set BRIDGEHEAD_DOCTOR_CLIENT_SECRET).",
            envvar="BRIDGEHEAD_DOCTOR_CLIENT_SECRET",
        ),
    ] = None,
    client_metadata_url: Annotated[
        str | None,
        typer.Option(
            help="An HTTPS URL of a client ID metadata document to use as the client_id where the server "
            "supports them (it must list the redirect URI the doctor uses)."
        ),
    ] = None,
    call_tool: Annotated[
        str | None,
        typer.Option(help="Also call this tool, e.g. one that needs more scopes (checks the step-up)."),
    ] = None,
    call_arguments: Annotated[str, typer.Option(help="The JSON object of arguments for --call-tool.")] = "{}",
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
    if client_metadata_url is not None:
        parts = urlsplit(client_metadata_url)
        if not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))):
            raise typer.BadParameter(
                "must be an https:// URL (http:// only on loopback, for testing)",
                param_hint="--client-metadata-url",
            )
    try:
        arguments: Any = orjson.loads(call_arguments)
    except orjson.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--call-arguments") from exc
    if not isinstance(arguments, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--call-arguments")
    options = DoctorOptions(
        auth=auth,
        profile=profile,
        client_auth=client_auth,
        client_id=client_id,
        client_secret=client_secret,
        client_metadata_url=client_metadata_url,
        call_tool=call_tool,
        call_arguments=arguments,
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
