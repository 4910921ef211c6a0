"""``bridgehead serve``: run the server."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import uvicorn

from bridgehead.app import WORKER_SETTINGS_ENV, create_app
from bridgehead.cli.auth_stores import AuthStores, run_on_stores
from bridgehead.cli.common import CommandError, ConfigOption, err_console, load_or_exit, report_config_error
from bridgehead.config import ConfigError, Settings, load_settings
from bridgehead.http_protocol import CoalescingHttpToolsProtocol
from bridgehead.runtime import Runtime


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default 8000; 0 picks a free one).")
    ] = None,
    public_base_url: Annotated[
        str | None, typer.Option(help="Public HTTPS origin clients use, e.g. https://abc.ngrok.app.")
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="Serve TLS directly with this certificate.")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="Private key for --ssl-certfile.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the default SQLite store lives.")] = None,
    auth: Annotated[
        Literal["none", "oauth", "mixed"] | None,
        typer.Option(
            "--auth",
            help="Auth mode (overrides auth.mode): none = open; oauth = every MCP request needs a token; "
            "mixed = read-only tools open, the rest need sign-in.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes. Keys, sessions and the audit trail live in the store, so every worker "
            "serves every client; use mcp.stateless for the least cross-worker traffic.",
        ),
    ] = 1,
) -> None:
    """Start Bridgehead. With no configuration: 127.0.0.1:8000, no auth, SQLite, the sample corpus."""
    server: dict[str, Any] = {}
    for key, value in (
        ("host", host),
        ("port", port),
        ("public_base_url", public_base_url),
        ("ssl_certfile", ssl_certfile),
        ("ssl_keyfile", ssl_keyfile),
        ("data_dir", data_dir),
    ):
        if value is not None:
            server[key] = value
    overrides: dict[str, Any] = {}
    if server:
        overrides["server"] = server
    if auth is not None:
        overrides["auth"] = {"mode": auth}
    settings = load_or_exit(config, overrides or None)
    if bool(settings.server.ssl_certfile) != bool(settings.server.ssl_keyfile):
        err_console.print("[red]--ssl-certfile and --ssl-keyfile go together[/]")
        raise typer.Exit(2)
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # SIGHUP re-reads the same file with the same overrides (see Runtime.reload).
        app = create_app(
            settings, Runtime.create(settings, loader=lambda: load_settings(config, overrides or None))
        )
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(2) from exc
    warning = issuer_warning(settings)
    if warning:
        err_console.print(f"[bold yellow]Warning:[/] {warning}", soft_wrap=True, highlight=False)
    if needs_first_user(settings):
        err_console.print(
            "No users yet: nobody can sign in. Add one with: bridgehead users add NAME --role admin",
            soft_wrap=True,
            highlight=False,
        )
    scheme = "https" if settings.server.ssl_certfile else "http"
    shown = settings.server.public_base_url or f"{scheme}://{settings.server.host}:{settings.server.port}"
    err_console.print(f"Bridgehead MCP endpoint: [bold]{shown}/mcp[/] (legacy SSE: {shown}/sse)")
    if workers == 1:
        uvicorn.Server(uvicorn_config(app, settings)).run()
        return
    # Migrate, create keys and secrets, and index once, here, so workers start on a ready store
    # instead of racing each other to create it.
    asyncio.run(prepare_store(settings))
    os.environ[WORKER_SETTINGS_ENV] = json.dumps(
        {"config": str(config) if config else None, "overrides": overrides}, default=str
    )
    listen = settings.server
    # uvicorn's multi-process mode takes an import string; each worker builds its app from the same
    # configuration (see bridgehead.app.worker_app).
    uvicorn.run(
        "bridgehead.app:worker_app",
        factory=True,
        workers=workers,
        host=listen.host,
        port=listen.port,
        log_level=listen.log_level,
        access_log=listen.access_log,
        ssl_certfile=str(listen.ssl_certfile) if listen.ssl_certfile else None,
        ssl_keyfile=str(listen.ssl_keyfile) if listen.ssl_keyfile else None,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        http=CoalescingHttpToolsProtocol,
    )


async def prepare_store(settings: Settings) -> None:
    """Everything a fresh store needs before several processes share it."""
    runtime = Runtime.create(settings)
    try:
        await runtime.start()
    finally:
        await runtime.stop()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def issuer_warning(settings: Settings) -> str | None:
    """Why tokens' issuer may not be what clients expect, or None.

    Without ``public_base_url`` every OAuth URL, the issuer included, is built from each request's Host
    header: fine on loopback, but once others can reach the server a token's issuer depends on the
    name they used, and a proxy in front changes it.
    """
    server = settings.server
    if settings.auth.mode == "none" or server.public_base_url or is_loopback(server.host):
        return None
    return (
        f"auth mode {settings.auth.mode} on {server.host} without server.public_base_url: the token "
        "issuer and every OAuth URL come from each request's Host header. Set --public-base-url (or "
        "server.public_base_url) to the origin clients use, e.g. https://mcp.example.com."
    )


def needs_first_user(settings: Settings) -> bool:
    """Sign-in is needed and only local accounts could sign in, but there are none."""
    auth = settings.auth
    if auth.mode == "none" or auth.federation is not None or not auth.local_login:
        return False

    async def count(stores: AuthStores) -> int:
        return len(await stores.users.list())

    try:
        return run_on_stores(settings, count) == 0
    except CommandError:
        return False  # the runtime reports an unreachable store itself, with more context


def uvicorn_config(app: Any, settings: Settings, *, port: int | None = None) -> uvicorn.Config:
    """How Bridgehead runs under uvicorn; tests use the same function, so they run what users run."""
    server = settings.server
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port if port is None else port,
        log_level=server.log_level,
        access_log=server.access_log,
        ssl_certfile=str(server.ssl_certfile) if server.ssl_certfile else None,
        ssl_keyfile=str(server.ssl_keyfile) if server.ssl_keyfile else None,
        # Forwarded headers are applied by Bridgehead's own middleware, from its trusted_proxies list only.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
        http=CoalescingHttpToolsProtocol,
    )
