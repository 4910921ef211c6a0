"""OAuth clients: dynamic registration (RFC 7591) and client authentication at the token endpoint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import orjson
from sqlalchemy import select, update

from bridgehead.auth.errors import OAuthError, invalid_client
from bridgehead.auth.opaque import hash_secret, matches, new_secret
from bridgehead.store import Database
from bridgehead.store.models import ClientRow

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
MAX_REDIRECT_URIS = 20
MAX_METADATA_BYTES = 16 * 1024


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


def _split_url(value: str) -> SplitResult | None:
    """The parts of a URL, or None when it cannot be parsed (an unclosed IPv6 bracket, say)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None


def _check_redirect_uri(uri: Any) -> str:
    if not isinstance(uri, str) or len(uri) > 2000:
        raise registration_error(
            "each redirect_uri must be a string of at most 2000 characters", "invalid_redirect_uri"
        )
    parts = _split_url(uri)
    if parts is None:
        raise registration_error(f"redirect_uri {uri!r} is not a valid URL", "invalid_redirect_uri")
    if parts.fragment:
        raise registration_error(f"redirect_uri {uri!r} must not contain a fragment", "invalid_redirect_uri")
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and loopback:
        return uri
    # Private-use URI schemes for native apps (RFC 8252 §7.1) are reverse domain names: com.example.app:/cb.
    if "." in parts.scheme and parts.scheme not in ("http", "https"):
        return uri
    raise registration_error(
        f"redirect_uri {uri!r} must be https, http on a loopback address, or a private-use scheme",
        "invalid_redirect_uri",
    )


class ClientStore:
    """Registered OAuth clients."""

    def __init__(self, database: Database, *, supported_scopes: list[str]) -> None:
        self.database = database
        self.supported_scopes = supported_scopes

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
            parts = _split_url(value) if isinstance(value, str) else None
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
        if len(client_id) > 512:
            return None
        async with self.database.sessions() as session:
            row = await session.get(ClientRow, client_id)
            return _client(row) if row else None

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

    async def authenticate(self, form: dict[str, str], authorization: str | None) -> Client:
        """Authenticate the client at the token, revocation or introspection endpoint, exactly as registered."""
        basic_id, basic_secret = _parse_basic(authorization)
        client_id = basic_id or form.get("client_id")
        if not client_id:
            raise invalid_client("client authentication failed: no client_id")
        if basic_id and form.get("client_id") and form["client_id"] != basic_id:
            raise invalid_client("client_id in the body differs from the one in HTTP Basic", basic=True)
        if basic_id and form.get("client_secret"):
            raise OAuthError(
                "invalid_request", "use one client authentication method, not Basic and client_secret"
            )
        async with self.database.sessions() as session:
            row = await session.get(ClientRow, client_id) if len(client_id) <= 512 else None
        if row is None:
            raise invalid_client("unknown client", basic=basic_id is not None)
        if row.revoked_at is not None:
            raise invalid_client("this client has been revoked", basic=basic_id is not None)
        method = row.auth_method
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
            return _client(row)
        if secret is None or row.secret_hash is None or not matches(secret, row.secret_hash):
            raise invalid_client("client authentication failed", basic=basic_id is not None)
        return _client(row)


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
