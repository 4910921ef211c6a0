"""A small, safe query language for document search.

Users (and models) type free text. We understand three things in it:
``"exact phrases"``, ``prefix*`` terms and plain words. Everything else is
punctuation. The parsed query is rendered per backend from sanitised tokens,
or handed over as a bound parameter that the backend reads as plain text
(PostgreSQL's ``phraseto_tsquery``), so no input can inject backend query syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_QUERY_CHARS = 1000
MAX_PARTS = 32

# Words that carry no meaning in a natural-language question; dropped unless
# they are all the query has.
STOP_WORDS = frozenset(
    """a an and are as at be by can do does for from how i in is it me my of on or our the this to was we
    what when where which who why will with you your about any tell show find""".split()  # noqa: SIM905
)

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_PART = re.compile(r'"([^"]*)"(\*?)|(\S+)')


class QueryError(ValueError):
    """The query has nothing to search for."""


@dataclass(frozen=True)
class Part:
    """A phrase (one or more tokens, in order); ``prefix`` marks the last token as a prefix.

    ``text`` is the part as typed, without quotes or the trailing ``*``: a backend whose
    own parser splits words differently from :func:`tokenize` (PostgreSQL keeps
    ``alice@example.com`` or ``-4410`` whole) parses it as plain text, never as syntax.
    """

    tokens: tuple[str, ...]
    prefix: bool = False
    phrase: bool = False
    text: str = ""


@dataclass(frozen=True)
class ParsedQuery:
    """The meaningful parts of a query, in the order typed.

    ``stop_words_only`` marks a question made of nothing but stop words ("who are we",
    "IT"): its words say little about a document's body (they are in almost every one,
    and PostgreSQL's English vectors leave them out), so backends look for them in titles.
    """

    parts: tuple[Part, ...] = field(default_factory=tuple)
    stop_words_only: bool = False

    @property
    def tokens(self) -> list[str]:
        return [t for p in self.parts for t in p.tokens]


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, as the full-text index sees them."""
    return [t.lower() for t in _TOKEN.findall(text)]


def parse_query(text: str) -> ParsedQuery:
    """Parse user text into phrases, prefixes and words. Raises QueryError when nothing is left."""
    # Control characters and lone surrogates are no words, and no store accepts them as text.
    text = _UNSAFE.sub(" ", text[:MAX_QUERY_CHARS])
    parts: list[Part] = []
    for match in _PART.finditer(text):
        quoted, star, bare = match.group(1), match.group(2), match.group(3)
        if quoted is not None:
            tokens = tokenize(quoted)
            if tokens:
                prefix = bool(star) or quoted.rstrip().endswith("*")
                words = quoted.strip().rstrip("*")
                parts.append(Part(tuple(tokens), prefix=prefix, phrase=len(tokens) > 1, text=words))
            continue
        assert bare is not None
        tokens = tokenize(bare)
        if not tokens:
            continue
        # "TRN-4410" is one thing the user typed: keep its pieces together as a phrase.
        parts.append(
            Part(tuple(tokens), prefix=bare.endswith("*"), phrase=len(tokens) > 1, text=bare.rstrip("*"))
        )
    meaningful = [p for p in parts if p.phrase or p.prefix or p.tokens[0] not in STOP_WORDS]
    chosen = meaningful or parts
    if not chosen:
        raise QueryError("the query has no words to search for")
    return ParsedQuery(tuple(chosen[:MAX_PARTS]), stop_words_only=not meaningful)


def to_fts5(query: ParsedQuery, *, any_term: bool) -> str:
    """Render for SQLite FTS5 MATCH: every token double-quoted, so nothing is FTS5 syntax."""
    rendered = []
    for part in query.parts:
        body = '"' + " ".join(part.tokens) + '"'
        rendered.append(body + " *" if part.prefix else body)
    return (" OR " if any_term else " AND ").join(rendered)


def to_tsquery(query: ParsedQuery, *, any_term: bool) -> str:
    """Render for PostgreSQL to_tsquery: tokens are [^\\W_]+ only, joined with <-> for phrases."""
    rendered = []
    for part in query.parts:
        tokens = list(part.tokens)
        if part.prefix:
            tokens[-1] = tokens[-1] + ":*"
        body = " <-> ".join(tokens)
        rendered.append(f"({body})" if len(tokens) > 1 else body)
    return (" | " if any_term else " & ").join(rendered)
