"""Incremental indexing of document folders into the store.

A file is re-read only when its size or modification time changed, and
re-parsed only when its content hash changed; files that disappeared are
removed. A file that fails to parse is reported and skipped, and the rest of
the index is left intact.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import anyio
from sqlalchemy import delete, insert, select, update

from bridgehead.connectors.documents.backends import SearchBackend, rowkey_for
from bridgehead.connectors.documents.parsers import SUPPORTED_SUFFIXES, ParseError, ParsedDocument, parse_document
from bridgehead.store import Database
from bridgehead.store.models import DocumentRow, IndexRunRow

BATCH_SIZE = 200

ProgressCallback = Callable[[int, int, str], None]
"""Called as (files done, files total, current relative path)."""


@dataclass(frozen=True)
class FolderSpec:
    """One folder to index."""

    root: Path
    name: str
    include: Sequence[str] = ("**/*",)
    exclude: Sequence[str] = ()


@dataclass(frozen=True)
class SourceFile:
    """A candidate file found on disk."""

    doc_id: str
    folder: str
    relpath: str
    path: Path
    size: int
    mtime_ns: int


@dataclass
class IndexReport:
    """What one indexing pass did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.errors)

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


def document_id(connector: str, folder: str, relpath: str) -> str:
    """The stable id of a document: connector, folder name and path inside the folder."""
    return f"{connector}:{folder}/{relpath}"


def _matches(relpath: str, patterns: Sequence[str]) -> bool:
    pure = PurePosixPath(relpath)
    return any(pure.match(p) or fnmatch.fnmatch(relpath, p) for p in patterns)


def scan_folder(connector: str, spec: FolderSpec, max_bytes: int) -> Iterator[SourceFile | tuple[str, str]]:
    """Yield indexable files under ``spec.root``, or (relpath, problem) for files that are skipped loudly.

    Symbolic links are not followed out of the folder: nothing outside the
    configured folders can ever be read.
    """
    root = spec.root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith(".") or not filename.lower().endswith(SUPPORTED_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            relpath = path.relative_to(root).as_posix()
            if not _matches(relpath, spec.include) or _matches(relpath, spec.exclude):
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    yield (relpath, "symbolic link to a file outside the folder; skipped")
                    continue
            try:
                stat = path.stat()
            except OSError as exc:
                yield (relpath, f"cannot stat: {exc.strerror}")
                continue
            if stat.st_size > max_bytes:
                yield (relpath, f"larger than max_file_bytes ({stat.st_size} > {max_bytes}); skipped")
                continue
            yield SourceFile(
                document_id(connector, spec.name, relpath), spec.name, relpath, path, stat.st_size, stat.st_mtime_ns
            )


def _read_and_parse(path: Path) -> tuple[str, ParsedDocument]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), parse_document(path, data)


async def index_folders(
    database: Database,
    backend: SearchBackend,
    connector: str,
    folders: Sequence[FolderSpec],
    *,
    max_bytes: int,
    progress: ProgressCallback | None = None,
) -> IndexReport:
    """Bring the index of ``connector`` in line with what is on disk now."""
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    report = IndexReport()
    files: list[SourceFile] = []
    for spec in folders:
        if not spec.root.is_dir():
            report.errors.append((spec.name, f"folder {spec.root} does not exist; its documents were kept"))
            continue
        for item in scan_folder(connector, spec, max_bytes):
            if isinstance(item, SourceFile):
                files.append(item)
            else:
                report.errors.append((f"{spec.name}/{item[0]}", item[1]))
    missing_folders = {spec.name for spec in folders if not spec.root.is_dir()}

    async with database.connect() as conn:
        rows = await conn.execute(
            select(DocumentRow.id, DocumentRow.folder, DocumentRow.size, DocumentRow.mtime_ns, DocumentRow.sha256).where(
                DocumentRow.connector == connector
            )
        )
        known = {r.id: r for r in rows}

    seen: set[str] = set()
    pending: list[tuple[SourceFile, str, ParsedDocument | None]] = []
    total = len(files)
    for done, source in enumerate(files, start=1):
        seen.add(source.doc_id)
        previous = known.get(source.doc_id)
        if previous is not None and previous.size == source.size and previous.mtime_ns == source.mtime_ns:
            report.unchanged += 1
        else:
            try:
                digest, parsed = await anyio.to_thread.run_sync(_read_and_parse, source.path)
            except (OSError, ParseError) as exc:
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                report.errors.append((f"{source.folder}/{source.relpath}", message))
                # A file we could not read keeps its previous indexed version, if any.
                if progress:
                    progress(done, total, source.relpath)
                continue
            if previous is not None and previous.sha256 == digest:
                pending.append((source, digest, None))  # touched, not changed
                report.unchanged += 1
            else:
                pending.append((source, digest, parsed))
                if previous is None:
                    report.added += 1
                else:
                    report.updated += 1
            if len(pending) >= BATCH_SIZE:
                await _write_batch(database, backend, connector, pending, known)
                pending.clear()
        if progress:
            progress(done, total, source.relpath)
    if pending:
        await _write_batch(database, backend, connector, pending, known)

    gone = [doc_id for doc_id, row in known.items() if doc_id not in seen and row.folder not in missing_folders]
    # Files that failed this pass are still on disk: keep their old version.
    failed_paths = {path for path, _ in report.errors}
    gone = [doc_id for doc_id in gone if doc_id.split(":", 1)[1] not in failed_paths]
    if gone:
        async with database.connect() as conn:
            for doc_id in gone:
                await backend.unindex(conn, rowkey_for(doc_id))
            await conn.execute(delete(DocumentRow).where(DocumentRow.id.in_(gone)))
        report.removed = len(gone)

    report.seconds = time.perf_counter() - started
    async with database.connect() as conn:
        await conn.execute(
            insert(IndexRunRow).values(
                connector=connector,
                started_at=started_at,
                finished_at=datetime.now(UTC),
                added=report.added,
                updated=report.updated,
                removed=report.removed,
                unchanged=report.unchanged,
                failed=report.failed,
                errors=[{"path": p, "error": e} for p, e in report.errors[:100]],
            )
        )
    return report


async def _write_batch(
    database: Database,
    backend: SearchBackend,
    connector: str,
    batch: Sequence[tuple[SourceFile, str, ParsedDocument | None]],
    known: dict[str, object],
) -> None:
    now = datetime.now(UTC)
    async with database.connect() as conn:
        for source, digest, parsed in batch:
            if parsed is None:
                await conn.execute(
                    update(DocumentRow)
                    .where(DocumentRow.id == source.doc_id)
                    .values(mtime_ns=source.mtime_ns, size=source.size)
                )
                continue
            values = {
                "connector": connector,
                "folder": source.folder,
                "path": source.relpath,
                "title": parsed.title,
                "body": parsed.text,
                "content_type": parsed.content_type,
                "size": source.size,
                "mtime_ns": source.mtime_ns,
                "sha256": digest,
                "metadata_json": parsed.metadata,
                "indexed_at": now,
            }
            rowkey = rowkey_for(source.doc_id)
            if source.doc_id in known:
                await conn.execute(update(DocumentRow).where(DocumentRow.id == source.doc_id).values(**values))
            else:
                await conn.execute(insert(DocumentRow).values(id=source.doc_id, rowkey=rowkey, **values))
            await backend.index(conn, rowkey, parsed.title, parsed.text)
