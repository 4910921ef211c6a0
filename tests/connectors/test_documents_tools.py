"""The search and fetch tools and the document page, through the real runtime and app on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp, Message

from bridgehead.app import create_app
from bridgehead.connectors.base import CallContext
from bridgehead.connectors.documents import DocumentsConnector
from bridgehead.runtime import Runtime
from tests.conftest import make_settings
from tests.connectors.document_files import pdf_bytes, write

BASE = "https://bridgehead.example"
CTX = CallContext(base_url=BASE)
SECRET = "outsidesecretword"


@dataclass
class Served:
    """A started runtime over two folders, its app, and the folders on disk."""

    runtime: Runtime
    app: ASGIApp
    kb: Path
    wiki: Path
    outside: Path

    @property
    def connector(self) -> DocumentsConnector:
        [connector] = self.runtime.connectors
        assert isinstance(connector, DocumentsConnector)
        return connector

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        return await self.runtime.surface.call(tool, arguments, CTX)


@pytest.fixture(scope="module")
async def served(module_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """One runtime per store for the module; tests that add files remove them again."""
    tmp_path = tmp_path_factory.mktemp("served")
    kb, wiki, outside = tmp_path / "kb", tmp_path / "wiki", tmp_path / "outside"
    write(
        kb / "incident.md",
        "---\ntitle: Incident levels\nowner: SRE\nsource: forged\n---\nA severity 1 incident pages the on-call engineer.\n",
    )
    write(
        kb / "sub dir" / "Q&A #1.md",
        "# Questions & answers\n\nTom & Jerry <b>approve</b> the severity matrix.\n",
    )
    write(
        kb / "xss.md",
        '# Hostile page\n\n<script>alert("pwned")</script><img src=x onerror=alert(1)> severity\n',
    )
    write(
        kb / "manual.pdf",
        pdf_bytes([["Safety manual", "Report every severity 1 incident."]], title="Safety manual"),
    )
    write(wiki / "runbook.md", "# Runbook\n\nRestart the broker; severity is checked first.\n")
    write(outside / "secret.md", f"# Secret\n\n{SECRET}\n")
    settings = make_settings(
        tmp_path / "server",
        store={"url": module_store_url},
        connectors=[
            {
                "type": "documents",
                "name": "docs",
                "max_fetch_chars": 10_000,
                "folders": [
                    {"path": str(kb), "name": "kb"},
                    {"path": str(wiki), "name": "wiki", "base_url": "https://wiki.example.com/space/"},
                ],
            }
        ],
    )
    runtime = Runtime.create(settings)
    await runtime.start()
    try:
        yield Served(runtime, create_app(settings, runtime), kb, wiki, outside)
    finally:
        await runtime.stop()


def payload(result: Any) -> dict[str, Any]:
    """The one text content item, parsed; it must equal the structured content."""
    assert not result.is_error, result.content
    assert len(result.content) == 1 and result.content[0].type == "text"
    data = orjson.loads(result.content[0].text)
    assert data == result.structured_content
    assert isinstance(data, dict)
    return data


def error_text(result: Any) -> str:
    assert result.is_error
    assert len(result.content) == 1 and result.content[0].type == "text"
    text = result.content[0].text
    assert isinstance(text, str)
    return text


# -- the tools ------------------------------------------------------------------------------


async def test_tools_are_listed_read_only_with_output_schemas(served: Served) -> None:
    listing = {tool.name: tool for tool in served.runtime.surface.listing}
    assert set(listing) == {"search", "fetch"}
    for tool in listing.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.output_schema is not None
    assert listing["search"].input_schema["required"] == ["query"]
    assert listing["fetch"].input_schema["required"] == ["id"]


async def test_search_returns_exactly_id_title_url(served: Served) -> None:
    result = await served.call("search", {"query": "severity 1 incident"})
    data = payload(result)
    assert list(data) == ["results"]
    assert data["results"], "expected hits"
    for item in data["results"]:
        assert list(item) == ["id", "title", "url"]
        assert all(isinstance(value, str) for value in item.values())
    first = data["results"][0]
    assert first == {
        "id": "docs:kb/incident.md",
        "title": "Incident levels",
        "url": f"{BASE}/documents/docs/kb/incident.md",
    }
    [tool] = [t for t in served.runtime.surface.tools if t.name == "search"]
    assert tool.output_schema is not None
    Draft202012Validator(tool.output_schema).validate(data)


async def test_search_with_no_hits_returns_an_empty_list(served: Served) -> None:
    assert payload(await served.call("search", {"query": "nonexistentzebraword"})) == {"results": []}


async def test_fetch_returns_exactly_id_title_text_url_metadata(served: Served) -> None:
    data = payload(await served.call("fetch", {"id": "docs:kb/incident.md"}))
    assert list(data) == ["id", "title", "text", "url", "metadata"]
    assert data["id"] == "docs:kb/incident.md"
    assert data["title"] == "Incident levels"
    assert data["text"] == "A severity 1 incident pages the on-call engineer."
    assert data["url"] == f"{BASE}/documents/docs/kb/incident.md"
    metadata = data["metadata"]
    assert all(isinstance(value, str) for value in metadata.values())
    assert metadata["owner"] == "SRE"
    assert metadata["source"] == "kb/incident.md"  # front matter cannot forge where the document is
    assert metadata["content_type"] == "text/markdown"
    assert metadata["indexed_at"]
    [tool] = [t for t in served.runtime.surface.tools if t.name == "fetch"]
    assert tool.output_schema is not None
    Draft202012Validator(tool.output_schema).validate(data)


async def test_fetch_a_pdf(served: Served) -> None:
    data = payload(await served.call("fetch", {"id": "docs:kb/manual.pdf"}))
    assert data["title"] == "Safety manual"
    assert "Report every severity 1 incident." in data["text"]
    assert data["metadata"]["content_type"] == "application/pdf"
    assert data["metadata"]["pages"] == "1"


async def test_fetch_truncates_long_documents_and_says_so(served: Served) -> None:
    long = write(served.kb / "long.txt", "Long\n" + "word " * 5000)
    await served.connector.reindex()
    try:
        data = payload(await served.call("fetch", {"id": "docs:kb/long.txt"}))
    finally:
        long.unlink()
        await served.connector.reindex()
    assert len(data["text"]) == 10_000
    assert data["metadata"]["truncated"] == "first 10000 of 25004 characters"


@pytest.mark.parametrize(
    "doc_id",
    [
        "docs:kb/missing.md",
        "kb/incident.md",
        "other:kb/incident.md",
        "docs:kb/../outside/secret.md",
        "docs:kb/incident.md\x00",
        "docs:kb/\ud800.md",
        "docs:" + "a" * 1019,
    ],
    ids=["missing", "no-connector", "other-connector", "traversal", "nul", "surrogate", "max-length"],
)
async def test_fetch_unknown_id_is_a_tool_error_naming_it(served: Served, doc_id: str) -> None:
    text = error_text(await served.call("fetch", {"id": doc_id}))
    assert text.startswith("No document with id ")
    assert "Use an id returned by `search`" in text


async def test_invalid_arguments_are_protocol_errors(served: Served) -> None:
    with pytest.raises(MCPError):
        await served.call("search", {})
    with pytest.raises(MCPError):
        await served.call("fetch", {"id": "x" * 2000})
    with pytest.raises(MCPError):
        await served.call("search", {"query": "x", "limit": 3})


@pytest.mark.parametrize("query", ["?!", "***", '""', "— … —"])
async def test_punctuation_only_query_is_a_tool_error(served: Served, query: str) -> None:
    text = error_text(await served.call("search", {"query": query}))
    assert text.startswith("Nothing to search for")


@pytest.mark.parametrize("query", ['"', "NEAR(", "OR", "-", ":", "&", "|", "!", "a:*", "ünï", "\x00"])
async def test_hostile_queries_are_answered_not_failed(served: Served, query: str) -> None:
    result = await served.call("search", {"query": query})
    if result.is_error:
        assert error_text(result).startswith("Nothing to search for")
    else:
        assert "results" in payload(result)


async def test_urls_use_the_folder_base_url_or_the_served_page(served: Served) -> None:
    hits = payload(await served.call("search", {"query": "severity"}))["results"]
    urls = {hit["id"]: hit["url"] for hit in hits}
    assert urls["docs:wiki/runbook.md"] == "https://wiki.example.com/space/runbook.md"
    assert urls["docs:kb/sub dir/Q&A #1.md"] == f"{BASE}/documents/docs/kb/sub%20dir/Q%26A%20%231.md"
    assert urls["docs:kb/incident.md"] == f"{BASE}/documents/docs/kb/incident.md"
    fetched = payload(await served.call("fetch", {"id": "docs:wiki/runbook.md"}))
    assert fetched["url"] == "https://wiki.example.com/space/runbook.md"


# -- the document page ----------------------------------------------------------------------


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served.app), base_url="http://testserver"
    ) as http:
        yield http


async def test_the_url_search_returns_serves_the_document(served: Served, client: httpx.AsyncClient) -> None:
    hits = payload(await served.call("search", {"query": "Tom Jerry"}))["results"]
    url = hits[0]["url"]
    assert url.startswith(BASE)
    response = await client.get(url.removeprefix(BASE))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Questions &amp; answers</h1>" in response.text
    assert "Tom &amp; Jerry &lt;b&gt;approve&lt;/b&gt;" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_document_with_script_is_rendered_inert(client: httpx.AsyncClient) -> None:
    response = await client.get("/documents/docs/kb/xss.md")
    assert response.status_code == 200
    assert "<script>" not in response.text and "<img" not in response.text
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


async def test_query_words_are_highlighted_without_breaking_entities(client: httpx.AsyncClient) -> None:
    marked = await client.get("/documents/docs/kb/sub%20dir/Q%26A%20%231.md", params={"q": "severity"})
    assert "<mark>severity</mark>" in marked.text
    for word in ["amp", "lt", "quot"]:
        response = await client.get("/documents/docs/kb/sub%20dir/Q%26A%20%231.md", params={"q": word})
        assert "Tom &amp; Jerry &lt;b&gt;approve&lt;/b&gt;" in response.text, word
        assert "<mark>" not in response.text.split('<div class="body">', 1)[1], word
    hostile = await client.get("/documents/docs/kb/xss.md", params={"q": "script <script>"})
    assert "<script>" not in hostile.text
    assert "&lt;<mark>script</mark>&gt;" in hostile.text


async def test_unknown_documents_are_404(client: httpx.AsyncClient) -> None:
    for path in ["/documents/docs/kb/nope.md", "/documents/docs/nofolder/incident.md", "/documents/docs/kb/"]:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Document not found" in response.text


async def test_a_file_on_disk_but_not_in_the_index_is_not_served(
    served: Served, client: httpx.AsyncClient
) -> None:
    fresh = write(served.kb / "fresh.md", "# Fresh\n\nnotyetindexedword\n")
    try:
        response = await client.get("/documents/docs/kb/fresh.md")
    finally:
        fresh.unlink()
    assert response.status_code == 404
    assert "notyetindexedword" not in response.text


async def _raw_get(app: ASGIApp, path: str) -> tuple[int, str]:
    """Send a path exactly as given (no client-side dot-segment removal), as a server would pass it on."""
    messages: list[Message] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": quote(path).encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, body.decode()


async def test_path_traversal_never_reads_a_file(served: Served, client: httpx.AsyncClient) -> None:
    secret = served.outside / "secret.md"
    raw_paths = [
        "/documents/docs/kb/../outside/secret.md",
        "/documents/docs/kb/../../outside/secret.md",
        "/documents/docs/kb/sub dir/../../../outside/secret.md",
        f"/documents/docs/kb/{secret}",
        f"/documents/docs/kb//{secret}",
        "/documents/docs/kb/\x00secret.md",
        "/documents/docs/../docs/kb/../outside/secret.md",
    ]
    for path in raw_paths:
        status, body = await _raw_get(served.app, path)
        assert status == 404, path
        assert SECRET not in body
    encoded = [
        "/documents/docs/kb/%2e%2e/outside/secret.md",
        "/documents/docs/kb/%2E%2E%2F%2E%2E%2Foutside%2Fsecret.md",
        "/documents/docs/kb/..%2f..%2foutside%2fsecret.md",
        "/documents/docs/kb/%2F" + quote(str(secret).lstrip("/"), safe=""),
        "/documents/docs/kb/%00",
        "/documents/docs/%2e%2e/outside/secret.md",
    ]
    for path in encoded:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert SECRET not in response.text
