"""The page a document's canonical URL points to when its folder has no base_url of its own."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bridgehead.connectors.documents.backends import HIGHLIGHT_END, HIGHLIGHT_START
from bridgehead.connectors.documents.indexer import document_id
from bridgehead.connectors.documents.query import QueryError, parse_query

if TYPE_CHECKING:
    from bridgehead.connectors.documents import DocumentsConnector

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Bridgehead</title>
<style>
body{{font:16px/1.6 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1f2328;background:#f6f8fa;margin:0}}
header{{background:#0b3d5c;color:#fff;padding:.75rem 1.5rem;font-weight:600;letter-spacing:.02em}}
main{{max-width:52rem;margin:2rem auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:2rem 2.5rem}}
h1{{margin-top:0;font-size:1.6rem}} .meta{{color:#57606a;font-size:.85rem;margin-bottom:1.5rem}}
.body{{white-space:pre-wrap;word-wrap:break-word}} mark{{background:#fff3b0;padding:0 .1em}}
</style></head>
<body><header>Bridgehead · {connector}</header><main>
<h1>{title}</h1>
<div class="meta">{source} · {content_type} · indexed {indexed}</div>
<div class="body">{body}</div>
</main></body></html>
"""


def highlight(text: str, query: str | None) -> str:
    """HTML-escape ``text`` and wrap the query's words in <mark>."""
    escaped = html.escape(text)
    if not query:
        return escaped
    try:
        tokens = parse_query(query).tokens
    except QueryError:
        return escaped
    if not tokens:
        return escaped
    # Match on the raw text and escape each piece: matching on escaped text would mark
    # "amp" or "lt" inside the entities and break them.
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in tokens) + r")\w*", re.IGNORECASE)
    pieces: list[str] = []
    end = 0
    for match in pattern.finditer(text):
        pieces.append(html.escape(text[end : match.start()]))
        pieces.append(f"<mark>{html.escape(match.group(0))}</mark>")
        end = match.end()
    pieces.append(html.escape(text[end:]))
    return "".join(pieces)


def snippet_to_html(snippet: str) -> str:
    """Turn a backend snippet with highlight markers into safe HTML."""
    return html.escape(snippet).replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")


async def document_page(connector: DocumentsConnector, request: Request) -> Response:
    """Render one indexed document (never a file read from disk: only what the index holds)."""
    folder = request.path_params["folder"]
    path = request.path_params["path"]
    row = await connector.get_document(document_id(connector.name, folder, path))
    if row is None or row.connector != connector.name:
        return HTMLResponse(
            "<!doctype html><title>Not found</title><h1>Document not found</h1>", 404, SECURITY_HEADERS
        )
    query = request.query_params.get("q")
    body = PAGE.format(
        title=html.escape(row.title),
        connector=html.escape(connector.name),
        source=html.escape(f"{row.folder}/{row.path}"),
        content_type=html.escape(row.content_type),
        indexed=html.escape(row.indexed_at.strftime("%Y-%m-%d %H:%M UTC") if row.indexed_at else "?"),
        body=highlight(row.body, query),
    )
    return HTMLResponse(body, headers=SECURITY_HEADERS)
