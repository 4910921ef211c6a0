"""The floor for indexing: the same files read, hashed, parsed and inserted with plain sqlite3.

Bridgehead's own parser turns each file into a document, and the rows go into
tables created from the DDL Bridgehead's migrations produced (copied out of the
store just built), in transactions of the indexer's batch size, with
``executemany``. Whatever the indexer spends beyond this is its own machinery.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.workspace import CONNECTOR, FOLDER, Workspace
from bridgehead.connectors.documents import indexer
from bridgehead.connectors.documents.backends import rowkey_for
from bridgehead.connectors.documents.parsers import parse_document

BATCH = int(getattr(indexer, "BATCH_SIZE", 200))
TABLES = ("documents", "documents_fts")


def _schema(store: Path) -> list[str]:
    """CREATE statements of the documents and full-text tables and their indexes, as migrated."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as source:
        rows = source.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN (?, ?) "
            "AND name NOT LIKE 'documents_fts_%' ORDER BY type = 'index'",
            TABLES,
        ).fetchall()
    return [str(sql) for (sql,) in rows]


def _row(columns: list[tuple[str, str, bool]], values: dict[str, Any]) -> tuple[Any, ...]:
    """Values for every column of the documents table; unknown required columns get a typed blank."""
    out = []
    for name, declared, required in columns:
        if name in values:
            out.append(values[name])
        elif required:
            out.append(0 if "INT" in declared.upper() else "")
        else:
            out.append(None)
    return tuple(out)


def index_floor(workspace: Workspace) -> tuple[int, float]:
    """(documents, seconds) to index the workspace's corpus the plain way, into a scratch database."""
    scratch = workspace.root / "floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    statements = _schema(workspace.database)
    files = sorted(
        Path(dirpath) / name
        for dirpath, _, names in os.walk(workspace.corpus)
        for name in names
        if name.endswith(".md")
    )
    connection = sqlite3.connect(scratch)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        for statement in statements:
            connection.execute(statement)
        info = connection.execute("PRAGMA table_info(documents)").fetchall()
        columns = [(str(r[1]), str(r[2]), bool(r[3]) and r[4] is None) for r in info]
        insert_row = f"INSERT INTO documents VALUES ({', '.join('?' * len(columns))})"
        started = time.perf_counter()
        for start in range(0, len(files), BATCH):
            rows, fts = [], []
            for path in files[start : start + BATCH]:
                data = path.read_bytes()
                parsed = parse_document(path, data)
                relpath = path.relative_to(workspace.corpus).as_posix()
                doc_id = f"{CONNECTOR}:{FOLDER}/{relpath}"
                key = rowkey_for(doc_id)
                values = {
                    "id": doc_id,
                    "rowkey": key,
                    "connector": CONNECTOR,
                    "folder": FOLDER,
                    "path": relpath,
                    "title": parsed.title,
                    "body": parsed.text,
                    "content_type": parsed.content_type,
                    "size": len(data),
                    "mtime_ns": path.stat().st_mtime_ns,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "metadata": json.dumps(parsed.metadata),
                    "indexed_at": datetime.now(UTC).isoformat(),
                }
                rows.append(_row(columns, values))
                fts.append((key, parsed.title, parsed.text))
            with connection:
                connection.executemany(insert_row, rows)
                connection.executemany("INSERT INTO documents_fts (rowid, title, body) VALUES (?, ?, ?)", fts)
        seconds = time.perf_counter() - started
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    return len(files), seconds
