"""OAuth clients: dynamic registration (RFC 7591), Client ID Metadata Documents, and client
authentication at the token, revocation and introspection endpoints.

A client is either registered here (``kind`` ``dynamic``: an opaque ``client_id``
and, unless it is public, a hashed secret) or identified by the URL of its
metadata document (``kind`` ``cimd``, see :mod:`bridgehead.auth.cimd`). A
document client is recorded the first time its document validates, so that
administrators see and can revoke it and the resource server can check it;
the document stays the source of truth for its redirect URIs and keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bridgehead.auth.assertion import (
    ASSERTION_TYPE,
    InvalidAssertion,
    VerifiedAssertion,
    assertion_subject,
    verify_assertion,
)
from bridgehead.auth.cimd import (
    SIGNING_ALGORITHMS,
    ClientDocument,
    ClientDocumentError,
    ClientMetadataDocuments,
    is_document_url,
)
from bridgehead.auth.errors import OAuthError, invalid_client
from bridgehead.auth.opaque import hash_secret, matches, new_secret
from bridgehead.auth.redirect_uris import MAX_REDIRECT_URIS, RedirectURIError, check_redirect_uri, split_url
from bridgehead.store import Database
from bridgehead.store.models import ClientRow, RevokedTokenRow

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
MAX_METADATA_BYTES = 16 * 1024
MAX_CLIENT_ID = 512


@dataclass(frozen=True)
class Client:
    client_id: str
    auth_method: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: str | None
    client_name: str | None
    kind: str
    revoked: bool
    metadata: dict[str, Any]

    @property
    def display_name(self) -> str:
        if self.kind == "cimd":
            # Anyone can publish a document naming itself "ChatGPT": the host of the
            # document's URL is what proves who the client is (draft §6.4).
            origin = urlsplit(self.client_id).hostname or self.client_id
            return f"{self.client_name} ({origin})" if self.client_name else origin
        if self.client_name:
            return self.client_name
        host = urlsplit(self.redirect_uris[0]).hostname if self.redirect_uris else None
        return host or self.client_id


def _client(row: ClientRow) -> Client:
    return Client(
        row.client_id,
        row.auth_method,
        tuple(row.redirect_uris),
        tuple(row.grant_types),
        row.scope,
        row.client_name,
        row.kind,
        row.revoked_at is not None,
        dict(row.metadata_json),
    )


def registration_error(description: str, error: str = "invalid_client_metadata") -> OAuthError:
    return OAuthError(error, description, 400)


def _check_redirect_uri(uri: Any) -> str:
    try:
        return check_redirect_uri(uri)
    except RedirectURIError as exc:
        raise registration_error(str(exc), "invalid_redirect_uri") from exc


class ClientStore:
    """Registered OAuth clients, and clients identified by their metadata documents."""

    def __init__(
        self,
        database: Database,
        *,
        supported_scopes: list[str],
        documents: ClientMetadataDocuments | None = None,
    ) -> None:
        self.database = database
        self.supported_scopes = supported_scopes
        self.documents = documents

    async def register(self, body: bytes) -> dict[str, Any]:
        """Validate RFC 7591 metadata and register a client; returns the registration response.

        Registering twice with the same metadata is harmless: each registration
        is its own client, and earlier ones stay valid (ChatGPT retries).
        """
        if len(body) > MAX_METADATA_BYTES:
            raise registration_error(f"client metadata larger than {MAX_METADATA_BYTES} bytes")
        try:
            metadata = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise registration_error(f"client metadata is not valid JSON: {exc}") from exc
        if not isinstance(metadata, dict):
            raise registration_error("client metadata must be a JSON object")
        redirect_uris = metadata.get("redirect_uris")
        grant_types = metadata.get("grant_types") or ["authorization_code", "refresh_token"]
        if not isinstance(grant_types, list) or not all(isinstance(g, str) for g in grant_types):
            raise registration_error("grant_types must be a list of strings")
        unsupported = [g for g in grant_types if g not in GRANT_TYPES]
        if unsupported:
            raise registration_error(f"unsupported grant_types: {', '.join(unsupported)}")
        needs_redirect = "authorization_code" in grant_types
        if needs_redirect:
            if not isinstance(redirect_uris, list) or not redirect_uris:
                raise registration_error(
                    "redirect_uris is required for the authorization_code grant", "invalid_redirect_uri"
                )
            if len(redirect_uris) > MAX_REDIRECT_URIS:
                raise registration_error(f"at most {MAX_REDIRECT_URIS} redirect_uris", "invalid_redirect_uri")
            redirect_uris = [_check_redirect_uri(u) for u in redirect_uris]
        else:
            redirect_uris = []
        response_types = metadata.get("response_types") or (["code"] if needs_redirect else [])
        if response_types not in (["code"], []):
            raise registration_error("only the 'code' response type is supported")
        method = metadata.get("token_endpoint_auth_method") or "client_secret_basic"
        if method == "private_key_jwt":
            raise registration_error(
                "private_key_jwt is for clients identified by a Client ID Metadata Document (a URL "
                "client_id, no registration needed); register with one of " + ", ".join(AUTH_METHODS)
            )
        if method not in AUTH_METHODS:
            raise registration_error(
                f"token_endpoint_auth_method {method!r} is not supported (use one of {', '.join(AUTH_METHODS)})"
            )
        if method == "none" and "client_credentials" in grant_types:
            raise registration_error("client_credentials needs a confidential client (not 'none')")
        scope = metadata.get("scope")
        if scope is not None:
            if not isinstance(scope, str):
                raise registration_error("scope must be a space-separated string")
            unknown = [s for s in scope.split() if s not in self.supported_scopes]
            if unknown:
                raise registration_error(f"unknown scopes: {', '.join(unknown)}", "invalid_client_metadata")
        name = metadata.get("client_name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise registration_error("client_name must be a string of at most 255 characters")
        for key in ("client_uri", "logo_uri", "tos_uri", "policy_uri"):
            value = metadata.get(key)
            parts = split_url(value) if isinstance(value, str) else None
            if value is not None and (parts is None or parts.scheme not in ("https", "http")):
                raise registration_error(f"{key} must be an http(s) URL")

        now = int(time.time())
        client_id = "bh_" + hashlib.sha256(new_secret().encode()).hexdigest()[:32]
        secret = new_secret("bhs_") if method != "none" else None
        stored = {k: v for k, v in metadata.items() if k not in ("client_secret", "client_id")}
        row = ClientRow(
            client_id=client_id,
            secret_hash=hash_secret(secret) if secret else None,
            auth_method=method,
            redirect_uris=redirect_uris,
            grant_types=list(grant_types),
            scope=scope,
            client_name=name,
            metadata_json=stored,
            kind="dynamic",
            created_at=now,
            secret_expires_at=0,
        )
        async with self.database.session() as session:
            session.add(row)
        response: dict[str, Any] = {
            **stored,
            "client_id": client_id,
            "client_id_issued_at": now,
            "redirect_uris": redirect_uris,
            "grant_types": list(grant_types),
            "response_types": response_types,
            "token_endpoint_auth_method": method,
        }
        if secret is not None:
            response["client_secret"] = secret
            response["client_secret_expires_at"] = 0
        return response

    async def get(self, client_id: str) -> Client | None:
        """The stored client (registered, or a document client seen before); no network access."""
        if len(client_id) > MAX_CLIENT_ID:
            return None
        async with self.database.sessions() as session:
            row = await session.get(ClientRow, client_id)
            return _client(row) if row else None

    async def resolve(self, client_id: str) -> Client | None:
        """The client an authorization request names: a registered one, or one whose metadata document
        validates now (fetched or cached). ClientDocumentError when a URL client_id's document cannot be used;
        nothing is stored then."""
        if self.documents is None or not is_document_url(client_id):
            return await self.get(client_id)
        client, _ = await self._document_client(client_id)
        return client

    async def _document_client(self, client_id: str) -> tuple[Client, ClientDocument]:
        assert self.documents is not None
        document = await self.documents.document(client_id)
        return await self._record(document), document

    async def _record(self, document: ClientDocument) -> Client:
        """Store (or refresh) a document client's row; an administrator's revocation stays in force."""
        known = set(self.supported_scopes)
        scope = " ".join(s for s in (document.scope or "").split() if s in known) or None
        values: dict[str, Any] = {
            "auth_method": document.auth_method,
            "redirect_uris": list(document.redirect_uris),
            "grant_types": list(document.grant_types),
            "scope": scope,
            "client_name": document.client_name,
            "metadata_json": document.metadata,
        }
        now = int(time.time())
        refresh = update(ClientRow).where(ClientRow.client_id == document.client_id).values(**values)
        async with self.database.connect() as conn:
            updated = (await conn.execute(refresh)).rowcount
        if not updated:
            row = {"client_id": document.client_id, "secret_hash": None, "kind": "cimd", **values}
            try:
                async with self.database.connect() as conn:
                    await conn.execute(insert(ClientRow).values(created_at=now, secret_expires_at=0, **row))
            except IntegrityError:  # a concurrent request recorded it first
                async with self.database.connect() as conn:
                    await conn.execute(refresh)
        client = await self.get(document.client_id)
        assert client is not None
        return client

    async def list(self) -> list[Client]:
        async with self.database.sessions() as session:
            rows = (await session.execute(select(ClientRow).order_by(ClientRow.created_at))).scalars().all()
            return [_client(r) for r in rows]

    async def revoke(self, client_id: str) -> bool:
        async with self.database.connect() as conn:
            result = await conn.execute(
                update(ClientRow)
                .where(ClientRow.client_id == client_id, ClientRow.revoked_at.is_(None))
                .values(revoked_at=int(time.time()))
            )
        return bool(result.rowcount)

    async def authenticate(
        self, form: dict[str, str], authorization: str | None, *, audiences: Sequence[str] = ()
    ) -> Client:
        """Authenticate the client at the token, revocation or introspection endpoint, exactly as registered.

        ``audiences`` are the values a ``private_key_jwt`` assertion may name as ``aud``
        (the issuer and the token endpoint).
        """
        basic_id, basic_secret = _parse_basic(authorization)
        assertion = form.get("client_assertion")
        client_id = basic_id or form.get("client_id") or (assertion_subject(assertion) if assertion else None)
        if not client_id:
            raise invalid_client("client authentication failed: no client_id")
        if basic_id and form.get("client_id") and form["client_id"] != basic_id:
            raise invalid_client("client_id in the body differs from the one in HTTP Basic", basic=True)
        if basic_id and form.get("client_secret"):
            raise OAuthError(
                "invalid_request", "use one client authentication method, not Basic and client_secret"
            )
        if (basic_id or form.get("client_secret")) and (assertion or form.get("client_assertion_type")):
            raise OAuthError(
                "invalid_request", "use one client authentication method, not a secret and client_assertion"
            )
        document: ClientDocument | None = None
        if self.documents is not None and is_document_url(client_id):
            if basic_id is not None:
                raise invalid_client(
                    "a client identified by a metadata document has no secret: it cannot use HTTP Basic",
                    basic=True,
                )
            try:
                client, document = await self._document_client(client_id)
            except ClientDocumentError as exc:
                raise invalid_client(f"the client metadata document cannot be used: {exc}") from exc
            secret_hash = None
        else:
            async with self.database.sessions() as session:
                row = await session.get(ClientRow, client_id) if len(client_id) <= MAX_CLIENT_ID else None
            if row is None:
                raise invalid_client("unknown client", basic=basic_id is not None)
            client, secret_hash = _client(row), row.secret_hash
        if client.revoked:
            raise invalid_client("this client has been revoked", basic=basic_id is not None)
        method = client.auth_method
        if method == "private_key_jwt":
            if document is None:
                raise invalid_client("this client has no published keys to verify an assertion with")
            await self._check_assertion(client, document, form, audiences)
            return client
        if assertion or form.get("client_assertion_type"):
            raise invalid_client(
                f"this client is registered for {method!r}, not private_key_jwt: do not send client_assertion",
                basic=basic_id is not None,
            )
        if method == "client_secret_basic":
            if basic_secret is None:
                raise invalid_client(
                    "this client is registered for client_secret_basic: send its credentials with HTTP Basic",
                    basic=True,
                )
            secret: str | None = basic_secret
        elif method == "client_secret_post":
            if basic_id is not None:
                raise invalid_client(
                    "this client is registered for client_secret_post: send client_secret in the body",
                    basic=True,
                )
            secret = form.get("client_secret")
            if not secret:
                raise invalid_client(
                    "this client is registered for client_secret_post: client_secret is missing"
                )
        else:
            if basic_secret or form.get("client_secret"):
                raise invalid_client(
                    "this public client is registered for 'none' and must not send a secret",
                    basic=basic_id is not None,
                )
            return client
        if secret is None or secret_hash is None or not matches(secret, secret_hash):
            raise invalid_client("client authentication failed", basic=basic_id is not None)
        return client

    async def _check_assertion(
        self, client: Client, document: ClientDocument, form: dict[str, str], audiences: Sequence[str]
    ) -> None:
        """RFC 7523 client authentication with the keys the client's document publishes, each jti once."""
        assert self.documents is not None
        documents = self.documents
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise invalid_client(
                f"this client authenticates with private_key_jwt: send client_assertion_type={ASSERTION_TYPE} "
                "and a signed client_assertion"
            )
        assertion = form.get("client_assertion")
        if not assertion:
            raise invalid_client(
                "this client authenticates with private_key_jwt: client_assertion is missing"
            )

        async def keys(refetch: bool) -> jwt.PyJWKSet:
            return await documents.signing_keys(document, refetch=refetch)

        algorithms = [document.signing_alg] if document.signing_alg else list(SIGNING_ALGORITHMS)
        try:
            verified = await verify_assertion(
                assertion, client_id=client.client_id, keys=keys, audiences=audiences, algorithms=algorithms
            )
        except (InvalidAssertion, ClientDocumentError) as exc:
            raise invalid_client(str(exc)) from exc
        if not await self._spend(verified):
            raise invalid_client("client_assertion was already used (its jti must be new for every request)")

    async def _spend(self, verified: VerifiedAssertion) -> bool:
        """Record an assertion's jti until it expires; False when it was recorded before (a replay)."""
        # Spent assertion ids share the table of revoked access-token ids (both: "refuse this id until exp"),
        # under a prefixed hash so the two can never collide.
        digest = hashlib.sha256(f"{verified.client_id}\x00{verified.jti}".encode()).hexdigest()
        key = "assertion:" + digest[:54]
        try:
            async with self.database.connect() as conn:
                await conn.execute(insert(RevokedTokenRow).values(jti=key, expires_at=verified.expires_at))
        except IntegrityError:
            return False
        return True


def _parse_basic(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization or authorization[:6].lower() != "basic ":
        return None, None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("malformed HTTP Basic credentials", basic=True) from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed HTTP Basic credentials", basic=True)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))
