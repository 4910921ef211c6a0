"""Full-text search backends: SQLite FTS5 (BM25) and PostgreSQL tsvector.

Both share the portable ``documents`` table; each keeps its own index in step
with it inside the same transaction as the row change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, text
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

    async def compact(self, conn: AsyncConnection) -> None:
        """Reorganise the index for reading, after an indexing pass that changed much of it."""
        ...

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

    async def has_match(self, conn: AsyncConnection, query: ParsedQuery, *, connector: str) -> bool:
        """Whether any document of ``connector`` matches every part of ``query``."""
        ...


RANK_BUDGET = 2000
"""The most matches one SQLite query ranks; see :class:`SqliteFtsBackend`."""

MMAP_BYTES = 1 << 30
"""How much of the SQLite file a connection maps into memory for searching."""


class SqliteFtsBackend:
    """SQLite FTS5 with BM25 ranking and porter stemming.

    FTS5 computes BM25 for every row it ranks, at about 2 µs a row: ranking every
    document that contains a common word would cost a few hundred milliseconds at
    100,000 documents. So a query ranks a window of its matches, at most
    :data:`RANK_BUDGET` of them: those with the lowest rowids, the first FTS5 finds.
    Rowids are hashes of document ids, so the window is a fixed, unbiased sample of the
    matches. On the benchmark corpus of 100,000 documents
    (``bench/corpus.py``), the ten best of the window scored at least 90% of the BM25
    total of the ten best of all, usually over 98%. Queries with fewer matches are
    ranked exactly.

    What still grows with the index is BM25's count of the documents matching each
    part of the query, made once per query without scoring them: about 5 ms for a
    word found in every one of 100,000 documents, 20 ms for a phrase of two such words.
    """

    async def index(self, conn: AsyncConnection, rowkey: int, title: str, body: str) -> None:
        await conn.execute(text("DELETE FROM documents_fts WHERE rowid = :k"), {"k": rowkey})
        await conn.execute(
            text("INSERT INTO documents_fts (rowid, title, body) VALUES (:k, :title, :body)"),
            {"k": rowkey, "title": title, "body": body},
        )

    async def unindex(self, conn: AsyncConnection, rowkey: int) -> None:
        await conn.execute(text("DELETE FROM documents_fts WHERE rowid = :k"), {"k": rowkey})

    async def compact(self, conn: AsyncConnection) -> None:
        # Indexing in batches leaves the index in many segments, each of which every
        # query term is looked up in; 'optimize' merges them into one.
        await conn.execute(text("INSERT INTO documents_fts (documents_fts) VALUES ('optimize')"))

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
        await _map_for_reading(conn)
        match = _fts5_match(query, any_term=any_term)
        params = {"match": match, "connector": connector, "budget": max(RANK_BUDGET, limit), "limit": limit}
        rows = list(await conn.execute(_SQLITE_SEARCH, params))
        found: dict[int, str] = {}
        if snippets and rows:
            # Built apart, for the rows returned only: in the ranking query SQLite would
            # build one for every row of the window before sorting.
            found = {
                r.rowid: r.snippet
                for r in await conn.execute(
                    _SQLITE_SNIPPETS, {"match": match, "rowids": [r.rowkey for r in rows]}
                )
            }
        # bm25() is lower-is-better; flip it so every backend reports higher-is-better.
        return [SearchHit(r.id, r.title, r.folder, r.path, -float(r.rank), found.get(r.rowkey)) for r in rows]

    async def has_match(self, conn: AsyncConnection, query: ParsedQuery, *, connector: str) -> bool:
        await _map_for_reading(conn)
        params = {"match": _fts5_match(query, any_term=False), "connector": connector}
        return (await conn.execute(_SQLITE_HAS_MATCH, params)).first() is not None


async def _map_for_reading(conn: AsyncConnection) -> None:
    """Memory-map the store on this connection, once: pages are then read without a copy each."""
    info = conn.info
    if not info.get("bridgehead.mmap"):
        await conn.execute(text(f"PRAGMA mmap_size = {MMAP_BYTES}"))
        info["bridgehead.mmap"] = True


def _fts5_match(query: ParsedQuery, *, any_term: bool) -> str:
    match = to_fts5(query, any_term=any_term)
    # Only stop words: they are in nearly every body, so only a title can be about them.
    return f"title : ({match})" if query.stop_words_only else match


# The window is the first RANK_BUDGET matches in rowid order, FTS5's own order: FTS5 hands
# them over one by one, each scored as it comes, and stops there; SQLite sorts the window.
# (FTS5's own `ORDER BY rank` would rank every match, and count the documents matching each
# term twice, once more to hand each row's rank over.)
#
# A match counts only when it is one of this connector's documents. When the store holds
# no other connector's (`scope.alone`, two seeks in ix_documents_connector_folder, made
# once), that needs no lookup; otherwise each match is looked up, so that the window holds
# RANK_BUDGET of this connector's matches. The rows returned are looked up in any case, and
# checked once more in case another connector indexed in between.
_SQLITE_SEARCH = text(
    f"""
    WITH scope AS (
        SELECT NOT (
            EXISTS (SELECT 1 FROM documents WHERE connector < :connector)
            OR EXISTS (SELECT 1 FROM documents WHERE connector > :connector)
        ) AS alone
    )
    SELECT ranked.rowkey, d.id, d.title, d.folder, d.path, ranked.rank
    FROM (
        SELECT rowkey, rank FROM (
            SELECT rowid AS rowkey, bm25(documents_fts, {TITLE_WEIGHT}, {BODY_WEIGHT}) AS rank
            FROM documents_fts
            WHERE documents_fts MATCH :match
              AND (
                  (SELECT alone FROM scope)
                  OR EXISTS (
                      SELECT 1 FROM documents AS w
                      WHERE w.rowkey = documents_fts.rowid AND w.connector = :connector
                  )
              )
            ORDER BY rowid
            LIMIT :budget
        )
        ORDER BY rank
        LIMIT :limit
    ) AS ranked
    CROSS JOIN documents AS d ON d.rowkey = ranked.rowkey
    WHERE d.connector = :connector
    ORDER BY ranked.rank
    """
)
_SQLITE_SNIPPETS = text(
    f"""
    SELECT rowid, snippet(documents_fts, 1, '{HIGHLIGHT_START}', '{HIGHLIGHT_END}', '…', 24) AS snippet
    FROM documents_fts
    WHERE documents_fts MATCH :match AND rowid IN :rowids
    """
).bindparams(bindparam("rowids", expanding=True))
# CROSS JOIN keeps the full-text index as the outer loop: driven by the documents table
# (which SQLite prefers here), a term that no document has would be looked up once per document.
_SQLITE_HAS_MATCH = text(
    """
    SELECT 1 FROM documents_fts
    CROSS JOIN documents AS d ON d.rowkey = documents_fts.rowid
    WHERE documents_fts MATCH :match AND d.connector = :connector
    LIMIT 1
    """
)


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

    async def compact(self, conn: AsyncConnection) -> None:
        # A GIN index keeps itself in shape (its pending list is merged by autovacuum).
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

    async def has_match(self, conn: AsyncConnection, query: ParsedQuery, *, connector: str) -> bool:
        # The same two steps as search(), without ranking anything.
        tsquery, params = _pg_tsquery(query, any_term=False)
        params["connector"] = connector
        if not query.stop_words_only:
            if await conn.scalar(text(_pg_exists_sql("d.search_vector", tsquery)), params):
                return True
            if await conn.scalar(text(f"SELECT numnode({tsquery})"), params):
                return False
        params["tokens"] = to_tsquery(query, any_term=False)
        sql = _pg_exists_sql("to_tsvector('simple', d.title)", "to_tsquery('simple', :tokens)")
        return bool(await conn.scalar(text(sql), params))


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


def _pg_exists_sql(vector: str, tsquery: str) -> str:
    return f"SELECT EXISTS (SELECT 1 FROM documents AS d WHERE {vector} @@ {tsquery} AND d.connector = :connector)"


def backend_for(dialect: str) -> SearchBackend:
    """The search backend matching the store's SQL dialect."""
    if dialect == "sqlite":
        return SqliteFtsBackend()
    if dialect == "postgresql":
        return PostgresFtsBackend()
    raise ValueError(f"no full-text search backend for the {dialect!r} store")
