"""``bridgehead serve``: run the server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from bridgehead.app import create_app
from bridgehead.cli.common import ConfigOption, err_console, load_or_exit, report_config_error
from bridgehead.config import ConfigError, Settings
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
    settings = load_or_exit(config, {"server": server} if server else None)
    if bool(settings.server.ssl_certfile) != bool(settings.server.ssl_keyfile):
        err_console.print("[red]--ssl-certfile and --ssl-keyfile go together[/]")
        raise typer.Exit(2)
    logging.basicConfig(
        level=settings.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app = create_app(settings, Runtime.create(settings))
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(2) from exc
    scheme = "https" if settings.server.ssl_certfile else "http"
    shown = settings.server.public_base_url or f"{scheme}://{settings.server.host}:{settings.server.port}"
    err_console.print(f"Bridgehead MCP endpoint: [bold]{shown}/mcp[/] (legacy SSE: {shown}/sse)")
    uvicorn.Server(uvicorn_config(app, settings)).run()


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
    )
