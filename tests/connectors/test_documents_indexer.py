"""Incremental indexing of real folders into both stores (a SQLite file and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bridgehead.connectors.base import CallContext
from bridgehead.connectors.documents import DocumentsConnector, indexer
from bridgehead.protocol.tools import ToolSurface
from bridgehead.store import Database
from bridgehead.store.models import IndexRunRow
from tests.connectors.conftest import ConnectorFactory, documents_connector
from tests.connectors.document_files import docx_bytes, pdf_bytes, write

CTX = CallContext(base_url="https://bridgehead.example")


def make_corpus(root: Path) -> dict[str, Path]:
    """One file of each format, each with a word found nowhere else."""
    return {
        "md": write(
            root / "handbook" / "remote-work.md", "# Remote work\n\nWork from home on Fridays: wombatword.\n"
        ),
        "txt": write(root / "holidays.txt", "Holiday calendar\nThe office closes for kestrelword.\n"),
        "html": write(
            root / "policies" / "privacy.html", "<title>Privacy</title><p>We never sell ocelotword data.</p>"
        ),
        "pdf": write(
            root / "manuals" / "safety.pdf", pdf_bytes([["Safety manual", "Wear gloves: pangolinword."]])
        ),
        "docx": write(
            root / "sales" / "quotes.docx",
            docx_bytes(["Quotes need approval: narwhalword."], heading="Quotes"),
        ),
    }


async def found(connector: DocumentsConnector, query: str) -> list[str]:
    return [hit.id for hit in await connector.search(query)]


def same_size_same_mtime(path: Path, content: bytes) -> None:
    """Replace a file's bytes while keeping its size and modification time: invisible to a stat."""
    before = path.stat()
    assert len(content) == before.st_size
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def bump_mtime(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


async def test_first_pass_adds_every_format_and_reports_progress(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    progress: list[tuple[int, int, str]] = []
    report = await connector.reindex(progress=lambda done, total, path: progress.append((done, total, path)))

    assert (report.added, report.updated, report.removed, report.unchanged, report.errors) == (5, 0, 0, 0, [])
    assert await connector.document_count() == 5
    assert [p[:2] for p in progress] == [(i, 5) for i in range(1, 6)]
    for word, doc_id in [
        ("wombatword", "docs:northwind/handbook/remote-work.md"),
        ("kestrelword", "docs:northwind/holidays.txt"),
        ("ocelotword", "docs:northwind/policies/privacy.html"),
        ("pangolinword", "docs:northwind/manuals/safety.pdf"),
        ("narwhalword", "docs:northwind/sales/quotes.docx"),
    ]:
        assert await found(connector, word) == [doc_id]
    assert await connector.ready()


async def test_second_pass_is_all_unchanged_and_reads_no_file(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    files = make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    await connector.reindex()

    # Change every file's bytes behind the indexer's back, keeping size and mtime. Had the
    # second pass read any file, the text ones would show the new words and the PDF and DOCX
    # (now garbage) would be reported as corrupt.
    for path in files.values():
        data = path.read_bytes()
        if path.suffix in (".pdf", ".docx"):
            same_size_same_mtime(path, b"\0" * len(data))
        else:
            same_size_same_mtime(path, data.replace(b"word", b"zzzz"))

    report = await connector.reindex()
    assert (report.added, report.updated, report.removed, report.unchanged, report.errors) == (0, 0, 0, 5, [])
    assert await found(connector, "wombatword") == ["docs:northwind/handbook/remote-work.md"]
    assert await found(connector, "wombatzzzz") == []


async def test_modified_file_is_updated_and_old_content_is_gone(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    files = make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    await connector.reindex()

    write(files["md"], "# Hybrid work\n\nCome to the office on Tuesdays: capybaraword.\n")
    write(files["pdf"], pdf_bytes([["Safety manual v2", "Wear boots: axolotlword."]]))
    report = await connector.reindex()

    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 2, 0, 3)
    assert await found(connector, "capybaraword") == ["docs:northwind/handbook/remote-work.md"]
    assert await found(connector, "axolotlword") == ["docs:northwind/manuals/safety.pdf"]
    assert await found(connector, "wombatword") == []
    assert await found(connector, "pangolinword") == []
    row = await connector.get_document("docs:northwind/handbook/remote-work.md")
    assert row is not None and row.title == "Hybrid work" and "wombatword" not in row.body


async def test_deleted_file_is_removed_from_search_and_fetch(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    files = make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    await connector.reindex()
    surface = ToolSurface(connector.tools())
    doc_id = "docs:northwind/policies/privacy.html"
    assert not (await surface.call("fetch", {"id": doc_id}, CTX)).is_error

    files["html"].unlink()
    report = await connector.reindex()

    assert (report.removed, report.unchanged, report.errors) == (1, 4, [])
    assert await found(connector, "ocelotword") == []
    assert await connector.get_document(doc_id) is None
    result = await surface.call("fetch", {"id": doc_id}, CTX)
    assert result.is_error
    assert await connector.document_count() == 4


async def test_touched_but_identical_file_is_unchanged(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    files = make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    await connector.reindex()
    doc_id = "docs:northwind/holidays.txt"
    before = await connector.get_document(doc_id)

    bump_mtime(files["txt"])
    report = await connector.reindex()

    assert (report.added, report.updated, report.unchanged, report.errors) == (0, 0, 5, [])
    after = await connector.get_document(doc_id)
    assert before is not None and after is not None
    assert after.indexed_at == before.indexed_at
    # The new mtime is remembered, so the next pass does not read the file again.
    assert after.mtime_ns == files["txt"].stat().st_mtime_ns
    same_size_same_mtime(files["txt"], files["txt"].read_bytes().replace(b"kestrel", b"zzzzzzz"))
    assert (await connector.reindex()).unchanged == 5
    assert await found(connector, "kestrelword") == [doc_id]


async def test_corrupt_file_is_reported_and_skipped_and_keeps_its_previous_version(
    make_connector: ConnectorFactory, database: Database, tmp_path: Path
) -> None:
    files = make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    await connector.reindex()

    write(files["pdf"], b"%PDF-1.4 this file was truncated by a bad copy")
    write(tmp_path / "docs" / "sales" / "broken.docx", b"PK\x03\x04 not really a zip")
    write(tmp_path / "docs" / "new-page.md", "# New page\n\nFresh gerbilword.\n")
    report = await connector.reindex()

    assert sorted(path for path, _ in report.errors) == [
        "northwind/manuals/safety.pdf",
        "northwind/sales/broken.docx",
    ]
    assert (report.added, report.updated, report.removed, report.failed) == (1, 0, 0, 2)
    # The previously indexed PDF is still served; the broken DOCX never was; the rest is indexed.
    assert await found(connector, "pangolinword") == ["docs:northwind/manuals/safety.pdf"]
    assert await connector.get_document("docs:northwind/sales/broken.docx") is None
    assert await found(connector, "gerbilword") == ["docs:northwind/new-page.md"]
    assert await found(connector, "narwhalword") == ["docs:northwind/sales/quotes.docx"]

    async with database.connect() as conn:
        last = (await conn.execute(select(IndexRunRow).order_by(IndexRunRow.id.desc()).limit(1))).one()
    assert (last.added, last.failed) == (1, 2)
    assert {e["path"] for e in last.errors} == {"northwind/manuals/safety.pdf", "northwind/sales/broken.docx"}

    # Still broken on the next pass: reported again, still kept.
    report = await connector.reindex()
    assert report.failed == 2 and report.removed == 0
    assert await found(connector, "pangolinword") == ["docs:northwind/manuals/safety.pdf"]


async def test_symlinks_pointing_outside_the_folder_are_never_read(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret.md", "# Secret\n\nThe vault code is topsecretword.\n")
    write(outside / "nested" / "more.md", "# More\n\nAlso hiddenword.\n")
    folder = tmp_path / "docs"
    write(folder / "real.md", "# Real\n\nInside the folder: insideword.\n")
    (folder / "leak.md").symlink_to(outside / "secret.md")
    (folder / "leakdir").symlink_to(outside / "nested", target_is_directory=True)
    (folder / "alias.md").symlink_to(folder / "real.md")  # inside the folder: allowed
    os.mkfifo(folder / "pipe.txt")  # opening a FIFO would block the indexer forever

    connector = make_connector([{"path": str(folder), "name": "northwind"}])
    report = await connector.reindex()

    assert dict(report.errors) == {
        "northwind/leak.md": "symbolic link to a file outside the folder; skipped",
        "northwind/pipe.txt": "not a regular file; skipped",
    }
    assert await found(connector, "topsecretword") == []
    assert await found(connector, "hiddenword") == []
    assert sorted(await found(connector, "insideword")) == [
        "docs:northwind/alias.md",
        "docs:northwind/real.md",
    ]
    assert await connector.get_document("docs:northwind/leak.md") is None


async def test_files_larger_than_max_file_bytes_are_skipped_with_a_report(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    write(folder / "small.md", "# Small\n\nfits.\n")
    write(folder / "big.txt", "Big\n" + "hugeword " * 200)
    connector = make_connector([{"path": str(folder), "name": "northwind"}], max_file_bytes=1000)
    report = await connector.reindex()

    assert report.added == 1
    assert [path for path, _ in report.errors] == ["northwind/big.txt"]
    assert "larger than max_file_bytes" in report.errors[0][1]
    assert await found(connector, "hugeword") == []


async def test_ids_are_stable_across_reindexing_and_a_fresh_database(
    make_connector: ConnectorFactory, other_store_url: str, tmp_path: Path
) -> None:
    files = make_corpus(tmp_path / "docs")
    folders = [{"path": str(tmp_path / "docs"), "name": "northwind"}]
    connector = make_connector(folders)
    await connector.reindex()
    first = sorted(await found(connector, "Quotes OR wombatword OR kestrelword"))
    expected = sorted(
        f"docs:northwind/{p.relative_to(tmp_path / 'docs').as_posix()}"
        for p in (files["docx"], files["md"], files["txt"])
    )
    assert first == expected

    write(files["md"], "# Remote work\n\nWork from home on Mondays: wombatword.\n")
    await connector.reindex()
    assert sorted(await found(connector, "Quotes OR wombatword OR kestrelword")) == expected

    fresh = Database(other_store_url)
    await fresh.migrate()
    try:
        again = documents_connector(fresh, tmp_path, folders)
        await again.reindex()
        assert sorted(await found(again, "Quotes OR wombatword OR kestrelword")) == expected
    finally:
        await fresh.close()


async def test_missing_folder_keeps_its_documents(make_connector: ConnectorFactory, tmp_path: Path) -> None:
    make_corpus(tmp_path / "docs")
    write(tmp_path / "wiki" / "page.md", "# Wiki\n\nShared quokkaword.\n")
    connector = make_connector(
        [
            {"path": str(tmp_path / "docs"), "name": "northwind"},
            {"path": str(tmp_path / "wiki"), "name": "wiki"},
        ]
    )
    await connector.reindex()

    (tmp_path / "docs").rename(tmp_path / "unmounted")
    (tmp_path / "wiki" / "page.md").unlink()
    report = await connector.reindex()

    assert report.removed == 1  # the wiki page really was deleted
    assert [path for path, _ in report.errors] == ["northwind"]
    assert "does not exist" in report.errors[0][1]
    assert await found(connector, "wombatword") == ["docs:northwind/handbook/remote-work.md"]
    assert await found(connector, "quokkaword") == []
    assert await connector.document_count() == 5

    (tmp_path / "unmounted").rename(tmp_path / "docs")
    report = await connector.reindex()
    assert (report.unchanged, report.removed, report.errors) == (5, 0, [])


async def test_include_and_exclude_patterns(make_connector: ConnectorFactory, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    make_corpus(folder)
    write(folder / "drafts" / "idea.md", "# Idea\n\ndraftword.\n")
    write(folder / ".hidden" / "cache.md", "# Cache\n\nhiddenword.\n")
    write(folder / "notes.csv", "a,b\n")
    connector = make_connector(
        [
            {
                "path": str(folder),
                "name": "northwind",
                "include": ["*.md", "**/*.md", "**/*.pdf"],
                "exclude": ["drafts/**"],
            }
        ]
    )
    report = await connector.reindex()
    assert (report.added, report.errors) == (2, [])
    assert await found(connector, "draftword OR hiddenword OR kestrelword") == []


async def test_text_with_nul_bytes_is_indexed_on_every_store(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    write(tmp_path / "docs" / "export.txt", b"Export\x00 from the old wiki\nmarmotword\x00\n")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    report = await connector.reindex()
    assert (report.added, report.errors) == (1, [])
    assert await found(connector, "marmotword") == ["docs:northwind/export.txt"]


async def test_a_document_the_store_refuses_is_reported_and_the_rest_is_written(
    make_connector: ConnectorFactory, database: Database, tmp_path: Path
) -> None:
    # PostgreSQL caps a tsvector at 1 MB: a dump of ~120 000 distinct tokens exceeds it.
    # SQLite has no such cap and indexes it. Either way the other documents are written.
    make_corpus(tmp_path / "docs")
    dump = write(
        tmp_path / "docs" / "dump.txt",
        "Token dump\n" + " ".join(secrets.token_hex(4) for _ in range(120_000)),
    )
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    report = await connector.reindex()  # the dump is written in a batch with five others

    refused = database.dialect == "postgresql"
    if refused:
        assert report.added == 5
        assert [path for path, _ in report.errors] == ["northwind/dump.txt"]
        assert "tsvector" in report.errors[0][1]
        assert await connector.get_document("docs:northwind/dump.txt") is None
    else:
        assert (report.added, report.errors) == (6, [])
    assert await found(connector, "pangolinword") == ["docs:northwind/manuals/safety.pdf"]

    write(dump, "Token dump 2\n" + " ".join(secrets.token_hex(4) for _ in range(120_000)))
    report = await connector.reindex()  # now alone in its batch
    if refused:
        assert (report.added, report.updated, report.unchanged) == (0, 0, 5)
        assert [path for path, _ in report.errors] == ["northwind/dump.txt"]
    else:
        assert (report.updated, report.unchanged, report.errors) == (1, 5, [])


async def test_broken_and_looping_symlinks_are_reported(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    write(folder / "real.md", "# Real\n\ninsideword.\n")
    (folder / "loop-a.md").symlink_to(folder / "loop-b.md")
    (folder / "loop-b.md").symlink_to(folder / "loop-a.md")
    (folder / "dangling.md").symlink_to(folder / "gone.md")
    connector = make_connector([{"path": str(folder), "name": "northwind"}])
    report = await connector.reindex()
    assert report.added == 1
    assert dict(report.errors) == {
        "northwind/dangling.md": "broken symbolic link; skipped",
        "northwind/loop-a.md": "broken symbolic link; skipped",
        "northwind/loop-b.md": "broken symbolic link; skipped",
    }


async def test_file_names_that_are_not_utf8_are_reported(
    make_connector: ConnectorFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    write(folder / "real.md", "# Real\n\ninsideword.\n")
    write(folder / os.fsdecode(b"caf\xe9.md"), b"# Latin-1 name\n")  # a name in Latin-1 bytes
    connector = make_connector([{"path": str(folder), "name": "northwind"}])
    report = await connector.reindex()
    assert report.added == 1
    assert report.errors == [("northwind/caf\\xe9.md", "file name is not valid UTF-8; skipped")]
    async with connector.context.database.connect() as conn:
        last = (await conn.execute(select(IndexRunRow).order_by(IndexRunRow.id.desc()).limit(1))).one()
    assert last.errors == [
        {"path": "northwind/caf\\xe9.md", "error": "file name is not valid UTF-8; skipped"}
    ]


async def test_a_sub_folder_that_cannot_be_listed_keeps_its_documents(
    make_connector: ConnectorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_corpus(tmp_path / "docs")
    connector = make_connector([{"path": str(tmp_path / "docs"), "name": "northwind"}])
    await connector.reindex()

    # What a permission change or a flaky network share looks like to the walk (the
    # tests may run as root, for whom chmod 000 changes nothing).
    unreadable = str((tmp_path / "docs" / "handbook").resolve())
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if os.fspath(path) == unreadable:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    (tmp_path / "docs" / "holidays.txt").unlink()
    report = await connector.reindex()

    assert report.errors == [
        ("northwind/handbook/", "cannot list the folder: Permission denied; its documents were kept")
    ]
    assert report.removed == 1  # holidays.txt really was deleted
    assert await found(connector, "wombatword") == ["docs:northwind/handbook/remote-work.md"]


async def fts5_segments(database: Database) -> int:
    async with database.connect() as conn:
        return int(await conn.scalar(text("SELECT count(DISTINCT segid) FROM documents_fts_idx")) or 0)


async def test_a_pass_that_changes_much_of_the_index_compacts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: many batches leave FTS5 segments behind; a large pass merges them, a small one does not."""
    monkeypatch.setattr(indexer, "BATCH_SIZE", 5)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await database.migrate()
    try:
        root = tmp_path / "notes"
        for i in range(40):
            write(root / f"note-{i:02}.md", f"# Note {i}\n\nShelf {i} holds box {i * 7}.\n")
        connector = documents_connector(database, tmp_path, [{"path": str(root), "name": "notes"}])
        assert (await connector.reindex()).added == 40
        assert await fts5_segments(database) == 1
        write(root / "note-00.md", "# Note 0\n\nShelf 0 now holds the lantern.\n")
        report = await connector.reindex()
        assert (report.updated, report.unchanged) == (1, 39)
        assert await fts5_segments(database) > 1  # one change in forty: not worth rewriting the index
        assert [h.path for h in await connector.search("lantern")] == ["note-00.md"]
        monkeypatch.setattr(indexer, "COMPACT_SHARE", 40)
        write(root / "note-01.md", "# Note 1\n\nShelf 1 holds a second lantern.\n")
        await connector.reindex()
        assert await fts5_segments(database) == 1
        assert sorted(h.path for h in await connector.search("lantern")) == ["note-00.md", "note-01.md"]
    finally:
        await database.close()
