"""Incremental indexing of document folders into the store.

A file is re-read only when its size or modification time changed, and
re-parsed only when its content hash changed; files that disappeared are
removed. A file that fails to parse, cannot be read, or that the store refuses
is reported and skipped, keeping its previously indexed version; so are the
documents of a folder that is missing or cannot be listed. The rest of the
index is left intact.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import anyio
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bridgehead.connectors.documents.backends import SearchBackend, rowkey_for
from bridgehead.connectors.documents.parsers import (
    SUPPORTED_SUFFIXES,
    ParsedDocument,
    ParseError,
    parse_document,
)
from bridgehead.store import Database
from bridgehead.store.models import DocumentRow, IndexRunRow

BATCH_SIZE = 200
COMPACT_SHARE = 10
"""A pass that changed at least one document in this many compacts the search index after it:
reading a compact index is faster, but compacting rewrites all of it."""

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
    target: Path
    """The file to read: ``path`` itself, or where a symbolic link inside the folder points."""


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
    configured folders can ever be read. A sub-folder that cannot be listed is
    reported as ``"its/path/"``: the caller keeps the documents under it.
    """
    root = spec.root.resolve()
    unlisted: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlisted.append, followlinks=False):
        yield from _unlisted(root, unlisted)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith(".") or not filename.lower().endswith(SUPPORTED_SUFFIXES):
                continue
            path = Path(dirpath) / filename
            relpath = path.relative_to(root).as_posix()
            if not _storable(relpath):
                yield (_printable(relpath), "file name is not valid UTF-8; skipped")
                continue
            if not _matches(relpath, spec.include) or _matches(relpath, spec.exclude):
                continue
            target = path
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):  # a dangling link, or a loop (RuntimeError before 3.13)
                    yield (relpath, "broken symbolic link; skipped")
                    continue
                if not target.is_relative_to(root):
                    yield (relpath, "symbolic link to a file outside the folder; skipped")
                    continue
            try:
                info = target.stat()
            except OSError as exc:
                yield (relpath, f"cannot stat: {exc.strerror}")
                continue
            if not stat.S_ISREG(info.st_mode):
                # A FIFO or device would block or never end; only regular files are documents.
                yield (relpath, "not a regular file; skipped")
                continue
            if info.st_size > max_bytes:
                yield (relpath, _too_large(info.st_size, max_bytes))
                continue
            doc_id = document_id(connector, spec.name, relpath)
            yield SourceFile(doc_id, spec.name, relpath, path, info.st_size, info.st_mtime_ns, target)
    yield from _unlisted(root, unlisted)


def _unlisted(root: Path, errors: list[OSError]) -> Iterator[tuple[str, str]]:
    while errors:
        error = errors.pop(0)
        relative = Path(str(error.filename)).relative_to(root).as_posix() if error.filename else "."
        prefix = "" if relative == "." else _printable(relative) + "/"
        yield (prefix, f"cannot list the folder: {error.strerror}; its documents were kept")


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """A file name that is not UTF-8 (os.walk hands its bytes over as surrogates), shown with escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _too_large(size: int, max_bytes: int) -> str:
    return f"larger than max_file_bytes ({size} > {max_bytes}); skipped"


class _Unreadable(Exception):
    """A file that changed into something the scan would have skipped."""


def _read(source: SourceFile, max_bytes: int) -> bytes:
    # O_NOFOLLOW: a file swapped for a symbolic link after the scan is refused, not followed
    # out of the folder. O_NONBLOCK: a file swapped for a FIFO does not hang the indexer.
    flags = (
        os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    )
    fd = os.open(source.target, flags)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Unreadable("not a regular file; skipped")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _Unreadable(_too_large(len(data), max_bytes))
    return data


def _read_and_parse(
    source: SourceFile, max_bytes: int, known_digest: str | None
) -> tuple[str, ParsedDocument | None]:
    """The file's content hash, and its parse unless the content is the one already indexed."""
    data = _read(source, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    if digest == known_digest:
        return digest, None
    return digest, parse_document(source.path, data)


@dataclass(frozen=True)
class _Pending:
    """A write waiting for its batch: a new or changed document, or new stat data only."""

    source: SourceFile
    digest: str
    parsed: ParsedDocument | None
    """None when the file was touched but its content is unchanged."""
    known: bool


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
            select(
                DocumentRow.id, DocumentRow.folder, DocumentRow.size, DocumentRow.mtime_ns, DocumentRow.sha256
            ).where(DocumentRow.connector == connector)
        )
        known = {r.id: r for r in rows}

    seen: set[str] = set()
    pending: list[_Pending] = []
    total = len(files)
    for done, source in enumerate(files, start=1):
        seen.add(source.doc_id)
        previous = known.get(source.doc_id)
        if previous is not None and previous.size == source.size and previous.mtime_ns == source.mtime_ns:
            report.unchanged += 1
        else:
            previous_digest = previous.sha256 if previous is not None else None
            try:
                digest, parsed = await anyio.to_thread.run_sync(
                    _read_and_parse, source, max_bytes, previous_digest
                )
            except (OSError, ParseError, _Unreadable) as exc:
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                # A file we could not read keeps its previous indexed version, if any.
                report.errors.append((f"{source.folder}/{source.relpath}", message))
            else:
                pending.append(_Pending(source, digest, parsed, previous is not None))
                if len(pending) >= BATCH_SIZE:
                    await _write(database, backend, connector, pending, report)
                    pending.clear()
        if progress:
            progress(done, total, source.relpath)
    if pending:
        await _write(database, backend, connector, pending, report)

    gone = [
        doc_id for doc_id, row in known.items() if doc_id not in seen and row.folder not in missing_folders
    ]
    # Files that failed this pass, and those in folders that could not be listed, are
    # still on disk: keep their old version.
    failed_paths = {path for path, _ in report.errors}
    failed_folders = tuple(path for path in failed_paths if path.endswith("/"))
    gone = [
        doc_id
        for doc_id in gone
        if doc_id.split(":", 1)[1] not in failed_paths
        and not doc_id.split(":", 1)[1].startswith(failed_folders)
    ]
    if gone:
        async with database.connect() as conn:
            for doc_id in gone:
                await backend.unindex(conn, rowkey_for(doc_id))
            # In chunks: both drivers cap the number of bound parameters in one statement.
            for start in range(0, len(gone), BATCH_SIZE):
                chunk = gone[start : start + BATCH_SIZE]
                await conn.execute(delete(DocumentRow).where(DocumentRow.id.in_(chunk)))
        report.removed = len(gone)

    changed = report.added + report.updated + report.removed
    if changed and changed * COMPACT_SHARE >= report.total + report.removed:
        async with database.connect() as conn:
            await backend.compact(conn)

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


async def _write(
    database: Database,
    backend: SearchBackend,
    connector: str,
    batch: Sequence[_Pending],
    report: IndexReport,
) -> None:
    """Write a batch in one transaction; if the store refuses it, write row by row and report the refusals.

    A row can be refused for its content (PostgreSQL caps a tsvector at 1 MB, so a huge
    document of distinct words cannot be indexed): that document is reported and
    skipped, keeping its previous version, and the rest of the batch is written.
    """
    try:
        await _write_rows(database, backend, connector, batch)
    except DBAPIError as exc:
        if _lost_store(exc):
            raise
        failures = [(batch[0], exc)] if len(batch) == 1 else []
        if len(batch) > 1:
            for item in batch:
                try:
                    await _write_rows(database, backend, connector, [item])
                except DBAPIError as row_exc:
                    if _lost_store(row_exc):
                        raise
                    failures.append((item, row_exc))
                else:
                    _count(report, item)
        for item, error in failures:
            path = f"{item.source.folder}/{item.source.relpath}"
            report.errors.append((path, f"the store refused it: {_store_message(error)}"))
    else:
        for item in batch:
            _count(report, item)


def _lost_store(exc: DBAPIError) -> bool:
    """True when the store itself failed (connection lost, database locked), not one row."""
    return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))


def _count(report: IndexReport, item: _Pending) -> None:
    if item.parsed is None:
        report.unchanged += 1
    elif item.known:
        report.updated += 1
    else:
        report.added += 1


def _store_message(exc: DBAPIError) -> str:
    # The driver's message, without the SQL and its parameters (a whole document).
    message = str(exc.orig).strip()
    if message.startswith("<class"):
        message = message.split(">: ", 1)[-1]
    return message.splitlines()[0] if message else type(exc.orig).__name__


async def _write_rows(
    database: Database, backend: SearchBackend, connector: str, batch: Sequence[_Pending]
) -> None:
    now = datetime.now(UTC)
    async with database.connect() as conn:
        for item in batch:
            source, parsed = item.source, item.parsed
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
                "sha256": item.digest,
                "metadata_json": parsed.metadata,
                "indexed_at": now,
            }
            rowkey = rowkey_for(source.doc_id)
            if item.known:
                await conn.execute(
                    update(DocumentRow).where(DocumentRow.id == source.doc_id).values(**values)
                )
            else:
                await conn.execute(insert(DocumentRow).values(id=source.doc_id, rowkey=rowkey, **values))
            await backend.index(conn, rowkey, parsed.title, parsed.text)
