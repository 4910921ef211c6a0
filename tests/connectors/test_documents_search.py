"""Search on both stores: phrases, prefixes, stemming, ranking, stop words, hostile input and quality."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridgehead.config import sample_corpus_path
from bridgehead.connectors.documents import DocumentsConnector, backends
from bridgehead.connectors.documents.backends import HIGHLIGHT_END, HIGHLIGHT_START, rowkey_for
from bridgehead.connectors.documents.query import MAX_PARTS, QueryError, parse_query, to_fts5, to_tsquery
from bridgehead.store import Database
from tests.connectors.conftest import ConnectorFactory, documents_connector
from tests.connectors.document_files import write

KB = {
    "incident.md": "# Incident levels\n\nA severity 1 incident is declared when a whole site is down.\n",
    "changelog.md": "# Change log\n\nThe incident was minor: severity was lowered to level 1 after review.\n",
    "parts.txt": "Spare parts\nTRN-4410 LiDAR module, front\nTRN-4412 battery pack\n",
    "legacy-parts.txt": "Legacy parts\nTRN-5510 drive wheel\nHRN-4410 gripper finger\n",
    "support.md": "# Support process\n\nEscalations go to the duty manager. An escalated ticket is reviewed daily.\n",
    "reimbursement.md": "# Reimbursement\n\nClaims are paid with the monthly payroll.\n",
    "finance-faq.md": "# Finance FAQ\n\nQuestions about reimbursement, and reimbursement forms, go to the finance team.\n",
    "it.md": "# IT setup\n\nLaptops are issued on day one.\n",
    "contact.md": (
        "# Contacts\n\nWrite to security@northwind.example or open docs.northwind.example. "
        "Firmware v2.3.1 fixed the drift; the ratio is 3.14.\n"
    ),
    "widget.html": "<title>Widget</title><script>var hiddenscriptword = 1;</script><p>Visible widget text.</p>",
}


@pytest.fixture(scope="module")
async def kb(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DocumentsConnector]:
    """A small knowledge base, indexed once per store for the whole module."""
    root = tmp_path_factory.mktemp("kb")
    for name, text in KB.items():
        write(root / "kb" / name, text)
    connector = documents_connector(module_database, root, [{"path": str(root / "kb"), "name": "kb"}])
    report = await connector.reindex()
    assert (report.added, report.errors) == (len(KB), [])
    yield connector


@pytest.fixture(scope="module")
async def sample(
    module_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DocumentsConnector]:
    """The bundled sample corpus, indexed once per store, beside ``kb`` under another connector name."""
    root = tmp_path_factory.mktemp("sample")
    connector = documents_connector(
        module_database, root, [{"path": str(sample_corpus_path()), "name": "northwind"}], name="sample"
    )
    report = await connector.reindex()
    assert report.errors == [] and report.added > 0
    yield connector


async def paths(connector: DocumentsConnector, query: str) -> list[str]:
    return [hit.path for hit in await connector.search(query)]


# -- the query language (pure) --------------------------------------------------------------


def test_parse_query_understands_phrases_prefixes_and_words() -> None:
    parsed = parse_query('"Severity 1 incident" TRN-44* escalation the')
    assert [(p.tokens, p.phrase, p.prefix) for p in parsed.parts] == [
        (("severity", "1", "incident"), True, False),
        (("trn", "44"), True, True),
        (("escalation",), False, False),
    ]
    assert parsed.parts[1].text == "TRN-44"
    assert not parsed.stop_words_only


def test_quoted_phrase_followed_by_a_star_is_a_prefix() -> None:
    assert parse_query('"lidar mod"*').parts[0].prefix
    assert parse_query('"lidar mod*"').parts[0].prefix


def test_stop_words_are_dropped_unless_they_are_all_there_is() -> None:
    assert parse_query("what is the travel policy").tokens == ["travel", "policy"]
    only = parse_query("what is it")
    assert only.tokens == ["what", "is", "it"] and only.stop_words_only


@pytest.mark.parametrize("query", ["", "   ", "?!", "***", '""', '" "', "-", "... --- ...", "()[]{}", "_"])
def test_punctuation_only_queries_raise_query_error(query: str) -> None:
    with pytest.raises(QueryError):
        parse_query(query)


def test_rendered_queries_contain_only_quoted_word_tokens() -> None:
    parsed = parse_query('NEAR(a b) title:x "y OR z" -w ^v')
    assert to_fts5(parsed, any_term=False) == '"near a" AND "b" AND "title x" AND "y or z" AND "w" AND "v"'
    assert to_tsquery(parse_query("trn-44* x"), any_term=True) == "(trn <-> 44:*) | x"


def test_queries_are_capped() -> None:
    assert len(parse_query(" ".join(f"w{i}" for i in range(100))).parts) == MAX_PARTS


# -- search behaviour on both stores --------------------------------------------------------


async def test_phrase_query_matches_the_words_in_order_only(kb: DocumentsConnector) -> None:
    assert await paths(kb, '"severity 1 incident"') == ["incident.md"]
    # Unquoted, both documents with all three words come first (the phrase first).
    assert (await paths(kb, "severity 1 incident"))[:2] == ["incident.md", "changelog.md"]


async def test_prefix_query_finds_part_numbers(kb: DocumentsConnector) -> None:
    assert await paths(kb, "TRN-44*") == ["parts.txt"]
    assert await paths(kb, "trn-441*") == ["parts.txt"]
    assert await paths(kb, '"lidar mod"*') == ["parts.txt"]


async def test_exact_part_number_does_not_match_a_neighbour(kb: DocumentsConnector) -> None:
    assert await paths(kb, "TRN-4410") == ["parts.txt"]
    assert await paths(kb, "HRN-4410") == ["legacy-parts.txt"]


async def test_stemming(kb: DocumentsConnector) -> None:
    assert await paths(kb, "escalating") == ["support.md"]
    assert await paths(kb, "escalation") == ["support.md"]
    assert await paths(kb, "claim") == ["reimbursement.md"]


async def test_title_match_outranks_body_only_match(kb: DocumentsConnector) -> None:
    hits = await kb.search("reimbursement")
    assert [h.path for h in hits] == ["reimbursement.md", "finance-faq.md"]
    assert hits[0].score > hits[1].score


async def test_stop_word_only_questions_search_titles(kb: DocumentsConnector) -> None:
    assert (await paths(kb, "IT"))[0] == "it.md"
    assert (await paths(kb, "what is it"))[0] == "it.md"


async def test_words_the_postgres_parser_keeps_whole(kb: DocumentsConnector) -> None:
    # PostgreSQL reads these as one lexeme each (email, host, version, float).
    for query in ["security@northwind.example", "docs.northwind.example", "v2.3.1", "3.14"]:
        assert await paths(kb, query) == ["contact.md"], query


async def test_documents_matching_some_terms_are_found_when_none_matches_all(kb: DocumentsConnector) -> None:
    hits = await paths(kb, "escalated ticket gripper")
    assert hits[0] == "support.md"  # two of the three words
    assert "legacy-parts.txt" in hits  # one


async def test_script_content_is_not_searchable(kb: DocumentsConnector) -> None:
    assert await paths(kb, "hiddenscriptword") == []
    assert await paths(kb, "visible widget") == ["widget.html"]


async def test_snippets_carry_highlight_markers(kb: DocumentsConnector) -> None:
    [hit] = await kb.search("escalated", snippets=True)
    assert hit.snippet is not None
    assert f"{HIGHLIGHT_START}escalated{HIGHLIGHT_END}" in hit.snippet


async def test_results_are_limited_and_scoped_to_the_connector(
    kb: DocumentsConnector, sample: DocumentsConnector
) -> None:
    assert len(await kb.search("parts OR incident OR reimbursement", limit=2)) == 2
    assert await paths(sample, "hiddenscriptword") == []
    assert all(hit.id.startswith("sample:") for hit in await sample.search("incident"))
    assert all(hit.id.startswith("docs:") for hit in await kb.search("incident"))


async def test_punctuation_only_query_raises_query_error(kb: DocumentsConnector) -> None:
    with pytest.raises(QueryError):
        await kb.search("?! ... ***")


HOSTILE = [
    '"',
    '"unbalanced phrase',
    'a "b',
    "*",
    "**",
    "foo*bar*",
    "* foo",
    "NEAR(incident severity, 2)",
    "NEAR/3",
    "incident OR severity",
    "OR",
    "AND NOT",
    "incident NOT severity",
    "-incident",
    "--",
    "title:incident",
    "body : incident",
    "{title body}: incident",
    "incident & severity",
    "incident | severity",
    "!incident",
    "incident:*",
    "incident <-> severity",
    "incident <2> severity",
    "(incident",
    "incident)",
    "'incident'",
    "incident\\",
    "^incident",
    "incident + severity",
    "@@ to_tsquery('x')",
    "'; DROP TABLE documents; --",
    "%",
    "_",
    "ünïcödé naïve café",
    "日本語の文書",
    "字" * 1000,
    "Ω≈ç√∫",
    "🚀 launch",
    "שלום עולם",
    "e\u0301cole",
    "zero\u200bwidth",
    "\U0001e900\U0001e901",
    "nul\x00byte",
    "lone\ud800surrogate",
    "½ ² ٣",
    "x" * 5000,
    " ".join(["incident"] * 60),
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_queries_never_raise_a_backend_error(kb: DocumentsConnector, query: str) -> None:
    try:
        hits = await kb.search(query, snippets=True)
    except QueryError:
        return
    assert isinstance(hits, list)


# -- many matches, and terms no document has -----------------------------------------------

LANTERN_NOTES = 40


def lantern_notes(root: Path) -> None:
    """LANTERN_NOTES notes that mention the lantern, and one document about it."""
    for i in range(LANTERN_NOTES):
        write(root / f"note-{i:02}.md", f"# Note {i}\n\nThe lantern is on shelf {i}, next to box {i * 7}.\n")
    write(root / "lantern.md", "# Lantern\n\nHow to light the lantern: open the lantern door first.\n")


async def test_fewer_matches_than_the_rank_budget_are_ranked_exactly(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    lantern_notes(tmp_path / "notes")
    connector = make_connector([{"path": str(tmp_path / "notes"), "name": "notes"}], max_results=5)
    await connector.reindex()
    hits = await connector.search("lantern")
    assert hits[0].path == "lantern.md"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_more_matches_than_the_rank_budget_rank_a_window_of_them(
    make_connector: ConnectorFactory, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lantern_notes(tmp_path / "notes")
    connector = make_connector([{"path": str(tmp_path / "notes"), "name": "notes"}], max_results=5)
    await connector.reindex()
    monkeypatch.setattr(backends, "RANK_BUDGET", 3)
    hits = await connector.search("lantern")
    # The window is never smaller than the page of results asked for.
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    if database.is_sqlite:
        # SQLite ranks the matches with the lowest rowids, a sample fixed by the document ids.
        ids = [f"docs:notes/note-{i:02}.md" for i in range(LANTERN_NOTES)] + ["docs:notes/lantern.md"]
        window = sorted(ids, key=rowkey_for)[:5]
        assert sorted(h.id for h in hits) == sorted(window)


async def test_the_window_counts_only_the_connectors_own_matches(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connector sharing the store with a larger one still finds all its documents."""
    lantern_notes(tmp_path / "big")
    write(tmp_path / "small" / "a.md", "# A\n\nA lantern in the attic.\n")
    write(tmp_path / "small" / "b.md", "# B\n\nA lantern in the basement.\n")
    big = documents_connector(database, tmp_path, [{"path": str(tmp_path / "big"), "name": "n"}], name="big")
    small = documents_connector(
        database, tmp_path, [{"path": str(tmp_path / "small"), "name": "n"}], name="small"
    )
    await big.reindex()
    await small.reindex()
    monkeypatch.setattr(backends, "RANK_BUDGET", 3)
    everything = [f"big:n/note-{i:02}.md" for i in range(LANTERN_NOTES)] + ["big:n/lantern.md"]
    mine = ["small:n/a.md", "small:n/b.md"]
    # Counted over both connectors, the first matches would leave out at least one of small's.
    assert not set(mine) <= set(sorted(everything + mine, key=rowkey_for)[:3])
    assert len(await small.search("lantern", limit=1)) == 1
    assert sorted(h.id for h in await small.search("lantern")) == mine
    assert all(h.id.startswith("big:") for h in await big.search("lantern"))


def parcel_docs(root: Path) -> None:
    write(
        root / "shipping.md", "# Shipping\n\nParcels leave on Mondays; the courier collects them at noon.\n"
    )
    write(root / "parcels.md", "# Parcels\n\nParcels, parcels, parcels: every parcel is weighed twice.\n")
    for i in range(6):
        # "courier" is in most documents, so it says little about any of them.
        write(
            root / f"other-{i}.md",
            f"# Other {i}\n\nNothing about shipping here; ask the courier, page {i}.\n",
        )


async def test_a_term_no_document_has_does_not_demote_documents_matching_the_others(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    parcel_docs(tmp_path / "kb")
    connector = make_connector([{"path": str(tmp_path / "kb"), "name": "kb"}])
    await connector.reindex()
    query = "parcels courier zanzibarword"
    # Ranked as "any of the terms", the document saying "parcels" most comes first...
    async with connector.context.database.connect() as conn:
        any_term = await connector.backend.search(
            conn, parse_query(query), connector="docs", limit=10, any_term=True, snippets=False
        )
    assert [h.path for h in any_term][:2] == ["parcels.md", "shipping.md"]
    # ...but the one with both words that exist goes first: the made-up word is set aside.
    assert (await paths(connector, query))[:2] == ["shipping.md", "parcels.md"]
    assert await paths(connector, "zanzibarword qwertyword") == []


async def test_every_hit_of_every_tier_is_listed_once(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    parcel_docs(tmp_path / "kb")
    connector = make_connector([{"path": str(tmp_path / "kb"), "name": "kb"}])
    await connector.reindex()
    found = await paths(connector, "parcels courier shipping zanzibarword")
    assert len(found) == len(set(found))
    assert set(found) == {"shipping.md", "parcels.md"} | {f"other-{i}.md" for i in range(6)}


# -- search quality on the sample corpus ----------------------------------------------------

QUALITY = [
    ("how many weeks of parental leave", "handbook/parental-leave.md"),
    ("password rotation multi-factor authentication", "policies/password-and-authentication-policy.md"),
    ("mileage reimbursement rate", "handbook/expenses.md"),
    ("TRN-4412 battery price", "products/tern-spare-parts-catalog.txt"),
    ("TRN-44*", "products/tern-spare-parts-catalog.txt"),
    ("eu-west outage postmortem", "engineering/postmortem-2024-11-28-flock-eu-outage.md"),
    ("E-431", "engineering/postmortem-2025-02-19-edge-certificate-expiry.md"),
    ("response time for priority 1 tickets", "support/service-level-agreement.pdf"),
    ("vendor security assessment", "policies/vendor-management-policy.docx"),
    ("tern dock installation", "products/tern-dock-installation-guide.pdf"),
    ("escalate a ticket to engineering", "support/escalation-matrix.md"),
    ("on-call handoff", "engineering/oncall-handoff-checklist.txt"),
    ("partner program tiers", "sales/partner-program.html"),
    ("Harrow & Finch case study", "sales/case-study-harrow-and-finch.docx"),
    ("IT", "handbook/equipment-and-it-setup.md"),
]


@pytest.mark.parametrize(("query", "expected"), QUALITY, ids=[q for q, _ in QUALITY])
async def test_sample_corpus_first_result(sample: DocumentsConnector, query: str, expected: str) -> None:
    assert (await paths(sample, query))[0] == expected
