"""SQLAlchemy models shared by every backend (SQLite and PostgreSQL).

Full-text structures are dialect-specific and live in the migrations and in
``connectors/documents/backends``; these tables are the portable part.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base for all Bridgehead tables."""


class DocumentRow(Base):
    """One indexed document; ``id`` is stable across re-indexing (connector, folder and relative path)."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    rowkey: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    connector: Mapped[str] = mapped_column(String(128), nullable=False)
    folder: Mapped[str] = mapped_column(String(128), nullable=False)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False, default=dict)
    indexed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (Index("ix_documents_connector_folder", "connector", "folder"),)


class IndexRunRow(Base):
    """A record of one indexing pass, so readiness and `bridgehead index` can report the last one."""

    __tablename__ = "index_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connector: Mapped[str] = mapped_column(String(128), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    added: Mapped[int] = mapped_column(Integer, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, nullable=False)
    removed: Mapped[int] = mapped_column(Integer, nullable=False)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False)
    failed: Mapped[int] = mapped_column(Integer, nullable=False)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, nullable=False, default=list)
