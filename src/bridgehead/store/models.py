"""SQLAlchemy models shared by every backend (SQLite and PostgreSQL).

Full-text structures are dialect-specific and live in the migrations and in
``connectors/documents/backends``; these tables are the portable part.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
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
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
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


class UserRow(Base):
    """A person who can sign in: local (password) or federated (upstream OIDC subject)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(512), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    tokens_valid_after: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),)


class ClientRow(Base):
    """An OAuth client: dynamically registered, pre-registered, or (later) a metadata document."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    auth_method: Mapped[str] = mapped_column(String(64), nullable=False)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    grant_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    scope: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="dynamic")
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    secret_expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuthorizationCodeRow(Base):
    """A one-time authorization code (stored hashed) and what it was issued for."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(512), nullable=False)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False)
    resource: Mapped[str] = mapped_column(Text, nullable=False)
    code_challenge: Mapped[str] = mapped_column(String(128), nullable=False)
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    family_id: Mapped[str] = mapped_column(String(64), nullable=False)


class RefreshTokenRow(Base):
    """A refresh token (stored hashed). Tokens rotated from one grant share a family."""

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    client_id: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    scope: Mapped[str] = mapped_column(Text, nullable=False)
    resource: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RevokedTokenRow(Base):
    """An access token (by ``jti``) revoked before it expired; kept until it would have expired."""

    __tablename__ = "oauth_revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RevokedFamilyRow(Base):
    """A grant (refresh family) revoked as a whole; its access tokens are refused too."""

    __tablename__ = "oauth_revoked_families"

    family_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SigningKeyRow(Base):
    """An ES256 signing key. The newest active key signs; retired keys still verify until their tokens expire."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    retired_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ServerSecretRow(Base):
    """Generated secrets the server needs across restarts and replicas (e.g. the cookie-signing key)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class AuditEventRow(Base):
    """One tools/call as it happened: who, what, with which arguments, what came back, and the decision."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[float] = mapped_column(Float, nullable=False, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # No user or tool index: every call appends a row, and each index costs it (migration 0006).
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    tool: Mapped[str] = mapped_column(String(255), nullable=False)
    arguments: Mapped[Any] = mapped_column(JSON, nullable=True)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    is_error: Mapped[bool] = mapped_column(Boolean, nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    transport: Mapped[str | None] = mapped_column(String(32), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ToolSurfaceVersionRow(Base):
    """A version of the tool surface clients see; a new row each time it changes."""

    __tablename__ = "tool_surface_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    diff: Mapped[str] = mapped_column(Text, nullable=False)


class MCPSessionRow(Base):
    """A Streamable HTTP session, kept so it outlives a restart and is known to every worker and replica."""

    __tablename__ = "mcp_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    protocol_version: Mapped[str] = mapped_column(String(32), nullable=False)
    client_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    last_seen: Mapped[float] = mapped_column(Float, nullable=False, index=True)


class RateEventRow(Base):
    """One counted event (a failed sign-in) for a rate-limit key, shared by every worker and replica."""

    __tablename__ = "rate_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), nullable=False)
    at: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (Index("ix_rate_events_key_at", "key", "at"),)
