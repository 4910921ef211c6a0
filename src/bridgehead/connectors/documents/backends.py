"""Full-text search backends: SQLite FTS5 (BM25) and PostgreSQL tsvector.

Both share the portable ``documents`` table; each keeps its own index in step
with it inside the same transaction as the row change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bridgehead.connectors.documents.query import ParsedQuery, to_fts5, to_tsquery

# Title matches weigh ten times a body match: a document *about* the thing
# beats one that mentions it.
TITLE_WEIGHT = 10.0
BODY_WEIGHT = 1.0
HIGHLIGHT_START = "\u27e6"  # ⟦ — unlikely in documents, easy to turn into <mark> or **
HIGHLIGHT_END = "\u27e7"  # ⟧


def rowkey_for(doc_id: str) -> int:
    """A stable 63-bit integer key for a document id (the FTS5 rowid)."""
    return int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class SearchHit:
    """One ranked match."""

    id: str
    title: str
    folder: str
    path: str
    score: float
    snippet: str | None = None


class SearchBackend(Protocol):
    """Keeps a full-text index beside the documents table and queries it."""

    async def index(self, conn: AsyncConnection, rowkey: int, title: str, body: str) -> None: ...

    async def unindex(self, conn: AsyncConnection, rowkey: int) -> None: ...

    async def search(
        self,
        conn: AsyncConnection,
        query: ParsedQuery,
        *,
        connector: str,
        limit: int,
        any_term: bool,
        snippets: bool,
    ) -> list[SearchHit]: ...


class SqliteFtsBackend:
    """SQLite FTS5 with BM25 ranking and porter stemming."""

    async def index(self, conn: AsyncConnection, rowkey: int, title: str, body: str) -> None:
        await conn.execute(text("DELETE FROM documents_fts WHERE rowid = :k"), {"k": rowkey})
        await conn.execute(
            text("INSERT INTO documents_fts (rowid, title, body) VALUES (:k, :title, :body)"),
            {"k": rowkey, "title": title, "body": body},
        )

    async def unindex(self, conn: AsyncConnection, rowkey: int) -> None:
        await conn.execute(text("DELETE FROM documents_fts WHERE rowid = :k"), {"k": rowkey})

    async def search(
        self,
        conn: AsyncConnection,
        query: ParsedQuery,
        *,
        connector: str,
        limit: int,
        any_term: bool,
        snippets: bool,
    ) -> list[SearchHit]:
        snippet_sql = (
            f"snippet(documents_fts, 1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 24)"
            if snippets
            else "NULL"
        )
        sql = text(
            f"""
            SELECT d.id, d.title, d.folder, d.path,
                   bm25(documents_fts, {TITLE_WEIGHT}, {BODY_WEIGHT}) AS rank,
                   {snippet_sql} AS snippet
            FROM documents_fts
            JOIN documents AS d ON d.rowkey = documents_fts.rowid
            WHERE documents_fts MATCH :match AND d.connector = :connector
            ORDER BY rank
            LIMIT :limit
            """
        )
        match = to_fts5(query, any_term=any_term)
        if query.stop_words_only:
            match = f"title : ({match})"
        rows = await conn.execute(sql, {"match": match, "connector": connector, "limit": limit})
        # bm25() is lower-is-better; flip it so every backend reports higher-is-better.
        return [SearchHit(r.id, r.title, r.folder, r.path, -float(r.rank), r.snippet) for r in rows]


class PostgresFtsBackend:
    """PostgreSQL full-text search over a generated, weighted tsvector column.

    Weights are {D, C, B, A}: the title (A) counts ten times the body (B).

    Each part of the query reaches ``phraseto_tsquery`` as plain text, so its words are
    split by the parser that built the documents' vectors, which keeps
    ``alice@example.com``, ``3.14`` or the ``-4410`` of ``TRN-4410`` whole where
    :func:`~bridgehead.connectors.documents.query.tokenize` splits them. The text is a
    bound parameter read as document text, so it cannot carry tsquery syntax.
    """

    async def index(self, conn: AsyncConnection, rowkey: int, title: str, body: str) -> None:
        # The tsvector is a generated column: the row write already updated it.
        return None

    async def unindex(self, conn: AsyncConnection, rowkey: int) -> None:
        return None

    async def search(
        self,
        conn: AsyncConnection,
        query: ParsedQuery,
        *,
        connector: str,
        limit: int,
        any_term: bool,
        snippets: bool,
    ) -> list[SearchHit]:
        tsquery, params = _pg_tsquery(query, any_term=any_term)
        params |= {"connector": connector, "limit": limit}
        rows = []
        if not query.stop_words_only:
            sql = _pg_search_sql("english", "d.search_vector", tsquery, snippets)
            rows = list(await conn.execute(text(sql), params))
        if query.stop_words_only or (
            not rows and not await conn.scalar(text(f"SELECT numnode({tsquery})"), params)
        ):
            # Only stop words (ours, or PostgreSQL's: "should have been"): the English vectors
            # leave them out, so look for them in titles with the 'simple' configuration,
            # which keeps every word. Titles only: a vector of every body per query would
            # not scale.
            params["tokens"] = to_tsquery(query, any_term=any_term)
            vector = "to_tsvector('simple', d.title)"
            sql = _pg_search_sql("simple", vector, "to_tsquery('simple', :tokens)", snippets)
            rows = list(await conn.execute(text(sql), params))
        return [SearchHit(r.id, r.title, r.folder, r.path, float(r.rank), r.snippet) for r in rows]


def _pg_tsquery(query: ParsedQuery, *, any_term: bool) -> tuple[str, dict[str, Any]]:
    """A tsquery SQL expression for ``query``, and its bound parameters."""
    params: dict[str, Any] = {}
    pieces = []
    for i, part in enumerate(query.parts):
        params[f"text{i}"] = part.text or " ".join(part.tokens)
        phrase = f"phraseto_tsquery('english', :text{i})"
        if not part.prefix:
            pieces.append(phrase)
            continue
        # A prefix marks the last lexeme of PostgreSQL's own parse with :* (its text form
        # quotes every lexeme, so a trailing quote means the phrase ends in a lexeme), or
        # of the tokens as tokenize() splits them: "TRN-44*" must find "TRN-4410", which
        # PostgreSQL reads as 'trn' '-4410', and "north-wi*" must find "north-wind",
        # which it reads as 'north-wind' 'north' 'wind'.
        params[f"tokens{i}"] = to_tsquery(ParsedQuery((part,)), any_term=False)
        pieces.append(
            f"(to_tsquery('english', :tokens{i}) || CASE WHEN right({phrase}::text, 1) = '''' "
            f"THEN ({phrase}::text || ':*')::tsquery ELSE {phrase} END)"
        )
    return "(" + (" || " if any_term else " && ").join(pieces) + ")", params


def _pg_search_sql(config: str, vector: str, tsquery: str, snippets: bool) -> str:
    snippet_sql = (
        f"ts_headline('{config}', d.body, q.query, "
        f"'StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, MaxWords=30, MinWords=10, "
        'MaxFragments=2, FragmentDelimiter=" … "\')'
        if snippets
        else "NULL"
    )
    return f"""
        WITH q AS (SELECT {tsquery} AS query)
        SELECT d.id, d.title, d.folder, d.path,
               ts_rank('{{0.1, 0.1, 0.1, 1.0}}', {vector}, q.query, 1) AS rank,
               {snippet_sql} AS snippet
        FROM documents AS d, q
        WHERE {vector} @@ q.query AND d.connector = :connector
        ORDER BY rank DESC, d.id
        LIMIT :limit
        """


def backend_for(dialect: str) -> SearchBackend:
    """The search backend matching the store's SQL dialect."""
    if dialect == "sqlite":
        return SqliteFtsBackend()
    if dialect == "postgresql":
        return PostgresFtsBackend()
    raise ValueError(f"no full-text search backend for the {dialect!r} store")
