"""``bridgehead init``: write a commented starter configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridgehead.cli.common import console, err_console
from bridgehead.config import sample_corpus_path

STARTER = """# Bridgehead configuration. Every key can be overridden by an environment variable:
# BRIDGEHEAD_<SECTION>__<KEY>, e.g. BRIDGEHEAD_SERVER__PORT=9000.
# Secrets (such as store.url with a password) belong in the environment or in
# files under $BRIDGEHEAD_SECRETS_DIR (a file named `store__url`), not here.

[server]
host = "127.0.0.1"
port = 8000
# The public HTTPS origin ChatGPT uses to reach this server (a tunnel or your
# reverse proxy). Every URL Bridgehead advertises is built from it.
# public_base_url = "https://abc123.ngrok.app"
# Proxies whose X-Forwarded-Proto/Host/For headers are trusted.
# trusted_proxies = ["127.0.0.1"]
# Host-header checks against DNS rebinding (on by default for localhost).
dns_rebinding_protection = true
# allowed_hosts = ["mcp.example.com"]
data_dir = ".bridgehead"
log_level = "info"

[mcp]
server_name = "Bridgehead"
# No sessions: every request stands alone (several replicas behind a load balancer).
stateless = false
# Answer POSTs with plain JSON instead of an SSE stream.
json_response = false
# Also serve the legacy HTTP+SSE transport at /sse.
legacy_sse = true
# A session with no request for this long ends (its id answers 404).
session_idle_timeout = 1800.0
# An idle session leaves memory sooner and re-opens from the store on its next request.
# session_memory_idle_seconds = 60.0

[store]
# Default: SQLite in data_dir. For several replicas use PostgreSQL, set from the environment:
# BRIDGEHEAD_STORE__URL=postgresql+asyncpg://bridgehead@db.internal/bridgehead

# A documents connector: folders of Markdown, text, HTML, PDF and DOCX files
# served as ChatGPT's `search` and `fetch` tools.
[[connectors]]
type = "documents"
name = "docs"

[[connectors.folders]]
path = "{sample}"
name = "northwind"
# Canonical links for results; without it Bridgehead serves a page per document.
# base_url = "https://wiki.example.com/"
"""


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the file.")] = Path("bridgehead.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter bridgehead.toml."""
    if path.exists() and not force:
        err_console.print(f"[red]{path} exists[/]; use --force to overwrite it")
        raise typer.Exit(1)
    path.write_text(STARTER.replace("{sample}", sample_corpus_path().as_posix()), encoding="utf-8")
    console.print(f"Wrote {path}. Check it with: bridgehead config check --config {path}")
