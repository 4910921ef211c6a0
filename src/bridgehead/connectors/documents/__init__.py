"""The documents connector: folders of files served as ChatGPT's ``search`` and ``fetch`` tools.

The tool contract follows OpenAI's guide for MCP servers used by deep research
and company knowledge: ``search`` takes one ``query`` string and returns
``{"results": [{"id", "title", "url"}]}``; ``fetch`` takes one ``id`` and returns
``{"id", "title", "text", "url", "metadata"}``. Each result is one text content
item holding that JSON, and the same object as structured content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.routing import BaseRoute, Route

from bridgehead.connectors.base import (
    CallContext,
    Connector,
    ConnectorConfig,
    ConnectorContext,
    Tool,
    ToolError,
    ToolHints,
    ToolOutput,
)
from bridgehead.connectors.documents.backends import SearchHit, backend_for
from bridgehead.connectors.documents.indexer import FolderSpec, IndexReport, ProgressCallback, index_folders
from bridgehead.connectors.documents.query import ParsedQuery, Part, QueryError, parse_query
from bridgehead.store.models import DocumentRow

MAX_ID_CHARS = 1024  # the width of documents.id


def _storable(text: str) -> bool:
    """False for text no store can hold or compare: NUL (PostgreSQL) or lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class DocumentFolder(BaseModel):
    """A folder of documents and how to link to them."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    base_url: str | None = Field(
        default=None,
        description="Canonical link prefix (e.g. https://wiki.example.com/handbook/); "
        "without it, Bridgehead serves a page per document.",
    )
    include: list[str] = Field(default_factory=lambda: ["**/*", "*"])
    exclude: list[str] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @property
    def label(self) -> str:
        return self.name or self.path.name or "docs"


class DocumentsConfig(ConnectorConfig):
    """Settings of a documents connector."""

    type: Literal["documents"] = "documents"
    name: str = Field(default="docs", pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    folders: list[DocumentFolder] = Field(min_length=1)
    max_results: int = Field(default=10, ge=1, le=50)
    max_file_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_fetch_chars: int = Field(default=200_000, gt=0)
    index_on_start: bool = True

    @field_validator("folders")
    @classmethod
    def _unique_labels(cls, folders: list[DocumentFolder]) -> list[DocumentFolder]:
        labels = [f.label for f in folders]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(
                f"folder names must be unique; set `name` on folders called {', '.join(duplicates)}"
            )
        return folders


SEARCH_DESCRIPTION = (
    "Search the company's documents (handbook, policies, product docs, runbooks and other internal pages) "
    "and return the most relevant ones, best first, as a list of ids, titles and URLs. "
    'Use it whenever the user asks about internal information. Supports "exact phrases" in double quotes '
    "and prefix* terms. Call `fetch` with a result's id to read the full text before answering."
)
FETCH_DESCRIPTION = (
    "Fetch the full text of one document found by `search`, by its id. Returns the document's title, "
    "complete text, canonical URL (cite it) and metadata."
)

SEARCH_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1000,
            "description": 'What to look for: keywords, a question, "an exact phrase" or a prefix*.',
        }
    },
    "required": ["query"],
    "additionalProperties": False,
}
SEARCH_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "url": {"type": "string"},
                },
                "required": ["id", "title", "url"],
            },
        }
    },
    "required": ["results"],
}
FETCH_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "description": "A document id returned by `search`.",
        }
    },
    "required": ["id"],
    "additionalProperties": False,
}
FETCH_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "text": {"type": "string"},
        "url": {"type": "string"},
        "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    },
    "required": ["id", "title", "text", "url"],
}


class DocumentsConnector(Connector):
    """Indexes folders of Markdown, text, HTML, PDF and DOCX files and serves search/fetch."""

    type_name = "documents"
    config_model = DocumentsConfig

    def __init__(self, config: ConnectorConfig, context: ConnectorContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, DocumentsConfig)
        self.settings: DocumentsConfig = config
        self.backend = backend_for(context.database.dialect)
        self.last_report: IndexReport | None = None
        self._indexed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.index_on_start:
            await self.reindex()
        else:
            self._indexed = True

    async def ready(self) -> bool:
        return self._indexed

    async def reindex(self, progress: ProgressCallback | None = None) -> IndexReport:
        """Bring the index in line with the folders (only changed files are read)."""
        specs = [
            FolderSpec(folder.path.expanduser(), folder.label, folder.include, folder.exclude)
            for folder in self.settings.folders
        ]
        report = await index_folders(
            self.context.database,
            self.backend,
            self.name,
            specs,
            max_bytes=self.settings.max_file_bytes,
            progress=progress,
        )
        self.last_report = report
        self._indexed = True
        return report

    async def document_count(self) -> int:
        async with self.context.database.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(DocumentRow).where(DocumentRow.connector == self.name)
            )
        return int(count or 0)

    # -- search ------------------------------------------------------------------------------

    async def search(
        self, query: str, *, limit: int | None = None, snippets: bool = False
    ) -> list[SearchHit]:
        """Ranked hits: documents matching every term first, then those matching any.

        Between the two, when some terms are in none of the connector's documents (a
        word the user guessed), come the documents matching every other term.
        """
        parsed = parse_query(query)
        limit = limit or self.settings.max_results
        async with self.context.database.connect() as conn:

            async def ranked(tier: ParsedQuery, any_term: bool) -> list[SearchHit]:
                return await self.backend.search(
                    conn, tier, connector=self.name, limit=limit, any_term=any_term, snippets=snippets
                )

            hits = await ranked(parsed, False)
            if len(hits) < limit and len(parsed.parts) > 1:
                present = replace(parsed, parts=await self._parts_with_matches(conn, parsed))
                tiers: list[tuple[ParsedQuery, bool]] = []
                if 1 < len(present.parts) < len(parsed.parts):
                    tiers.append((present, False))
                if present.parts:
                    # Terms no document has add nothing to "any of them".
                    tiers.append((present, True))
                for tier, any_term in tiers:
                    if len(hits) >= limit:
                        break
                    seen = {h.id for h in hits}
                    hits.extend(h for h in await ranked(tier, any_term) if h.id not in seen)
        return hits[:limit]

    async def _parts_with_matches(self, conn: AsyncConnection, parsed: ParsedQuery) -> tuple[Part, ...]:
        """The parts of the query that at least one of the connector's documents matches."""
        return tuple(
            [
                part
                for part in parsed.parts
                if await self.backend.has_match(conn, replace(parsed, parts=(part,)), connector=self.name)
            ]
        )

    def document_url(self, folder: str, relpath: str, base_url: str) -> str:
        """The canonical link of a document: the folder's base_url, or the page Bridgehead serves."""
        for spec in self.settings.folders:
            if spec.label == folder and spec.base_url:
                return spec.base_url.rstrip("/") + "/" + quote(relpath)
        return f"{base_url}/documents/{quote(self.name)}/{quote(folder)}/{quote(relpath)}"

    async def get_document(self, doc_id: str) -> DocumentRow | None:
        """The indexed document with this id, or None (also for ids no document can have)."""
        if not doc_id.startswith(f"{self.name}:") or len(doc_id) > MAX_ID_CHARS or not _storable(doc_id):
            return None
        async with self.context.database.sessions() as session:
            return await session.get(DocumentRow, doc_id)

    # -- tools -------------------------------------------------------------------------------

    def tools(self) -> Sequence[Tool]:
        read_only = ToolHints(read_only=True, destructive=False, idempotent=True, open_world=False)
        return [
            Tool(
                name="search",
                title="Search company documents",
                description=SEARCH_DESCRIPTION,
                input_schema=SEARCH_INPUT,
                output_schema=SEARCH_OUTPUT,
                hints=read_only,
                handler=self._search_tool,
            ),
            Tool(
                name="fetch",
                title="Read a company document",
                description=FETCH_DESCRIPTION,
                input_schema=FETCH_INPUT,
                output_schema=FETCH_OUTPUT,
                hints=read_only,
                handler=self._fetch_tool,
            ),
        ]

    async def _search_tool(self, arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
        try:
            hits = await self.search(arguments["query"])
        except QueryError as exc:
            raise ToolError(f"Nothing to search for: {exc}. Use a few keywords.") from exc
        results = [
            {"id": h.id, "title": h.title, "url": self.document_url(h.folder, h.path, ctx.base_url)}
            for h in hits
        ]
        payload = {"results": results}
        return ToolOutput(orjson.dumps(payload).decode(), payload)

    async def _fetch_tool(self, arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
        doc_id: str = arguments["id"]
        row = await self.get_document(doc_id)
        if row is None or row.connector != self.name:
            raise ToolError(f"No document with id {doc_id!r}. Use an id returned by `search`.")
        text = row.body
        # The document's own metadata (front matter, PDF/DOCX properties) first, so a
        # front-matter key such as `source:` cannot hide where the document really is.
        metadata: dict[str, str] = {k: str(v) for k, v in (row.metadata_json or {}).items()}
        metadata.update(
            source=f"{row.folder}/{row.path}",
            content_type=row.content_type,
            indexed_at=row.indexed_at.isoformat() if row.indexed_at else "",
        )
        if len(text) > self.settings.max_fetch_chars:
            metadata["truncated"] = f"first {self.settings.max_fetch_chars} of {len(text)} characters"
            text = text[: self.settings.max_fetch_chars]
        payload = {
            "id": row.id,
            "title": row.title,
            "text": text,
            "url": self.document_url(row.folder, row.path, ctx.base_url),
            "metadata": metadata,
        }
        return ToolOutput(orjson.dumps(payload).decode(), payload)

    # -- routes ------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        from bridgehead.web.documents import document_page

        async def page(request: Any) -> Any:
            return await document_page(self, request)

        return [Route(f"/documents/{self.name}/{{folder}}/{{path:path}}", page, methods=["GET", "HEAD"])]
