"""The authorization server's parts in one place: stores, keys, policy, URLs and token minting."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import insert, select
from starlette.requests import HTTPConnection

from bridgehead.auth.cimd import ClientMetadataDocuments
from bridgehead.auth.clients import ClientStore
from bridgehead.auth.grants import Grant, GrantStore
from bridgehead.auth.keys import KeyRing
from bridgehead.auth.ratelimit import SlidingWindowLimiter
from bridgehead.auth.users import User, UserStore
from bridgehead.config import Settings
from bridgehead.policy import PolicyEngine
from bridgehead.policy.decision import OFFLINE_ACCESS
from bridgehead.protocol.forwarded import base_url_from_scope
from bridgehead.store import Database
from bridgehead.store.models import ServerSecretRow

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
PRM_PATH = "/.well-known/oauth-protected-resource"


def _fold_origin(url: str) -> str | None:
    """``url`` with its scheme and host in lower case, or None when it is not a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


@dataclass(frozen=True)
class IssuedTokens:
    """A token endpoint response body."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.id_token:
            body["id_token"] = self.id_token
        return body


class AuthService:
    """Everything the OAuth endpoints and the resource server share."""

    def __init__(
        self, settings: Settings, database: Database, policy: PolicyEngine, supported_scopes: list[str]
    ) -> None:
        self.settings = settings
        self.auth = settings.auth
        self.database = database
        self.policy = policy
        self.supported_scopes = supported_scopes
        self.keys = KeyRing(database, max_token_ttl=self.auth.access_token_ttl)
        self.users = UserStore(database, set(self.auth.roles))
        self.documents = ClientMetadataDocuments(
            timeout=self.auth.cimd_fetch_timeout,
            allow_insecure_loopback=self.auth.cimd_allow_insecure_loopback,
        )
        self.clients = ClientStore(database, supported_scopes=supported_scopes, documents=self.documents)
        self.grants = GrantStore(
            database,
            code_ttl=self.auth.authorization_code_ttl,
            refresh_ttl=self.auth.refresh_token_ttl,
            access_ttl=self.auth.access_token_ttl,
        )
        self.login_limiter = SlidingWindowLimiter(database, self.auth.login_attempts, self.auth.login_window)
        self.session_secret = ""

    async def start(self) -> None:
        await self.keys.load()
        if self.auth.session_secret is not None:
            self.session_secret = self.auth.session_secret.get_secret_value()
        else:
            self.session_secret = await self._stored_secret("session")

    async def _stored_secret(self, name: str) -> str:
        """A generated secret shared by every replica through the store."""
        async with self.database.connect() as conn:
            value = (
                await conn.execute(select(ServerSecretRow.value).where(ServerSecretRow.name == name))
            ).scalar()
            if value is None:
                value = secrets.token_urlsafe(48)
                await conn.execute(insert(ServerSecretRow).values(name=name, value=value))
        return str(value)

    # -- URLs ------------------------------------------------------------------------------

    def base_url(self, conn: HTTPConnection) -> str:
        # Without a trailing slash, always: the issuer, every endpoint and every `iss` are built from it.
        return base_url_from_scope(conn.scope, self.settings.server.public_base_url).rstrip("/")

    def issuer(self, conn: HTTPConnection) -> str:
        """The issuer identifier: the public origin, byte-for-byte the same everywhere it appears."""
        return self.base_url(conn)

    def resource(self, conn: HTTPConnection) -> str:
        """The protected resource: the MCP endpoint URL a user pastes into ChatGPT."""
        return self.base_url(conn) + MCP_PATH

    def resource_paths(self) -> list[str]:
        """The forms of the connector URL's path a user may paste: /mcp, /mcp/ and, with SSE, /sse, /sse/."""
        paths = [MCP_PATH, MCP_PATH + "/"]
        if self.settings.mcp.legacy_sse:
            paths += [SSE_PATH, SSE_PATH + "/"]
        return paths

    def accepted_resources(self, conn: HTTPConnection) -> list[str]:
        """Resource indicators (RFC 8707) that name this server: the origin or any form of the connector URL."""
        base = self.base_url(conn)
        return [base + path for path in self.resource_paths()] + [base, base + "/"]

    def match_resource(self, conn: HTTPConnection, value: str) -> str | None:
        """The accepted resource ``value`` names, or None. Scheme and host compare case-insensitively
        (MCP 2025-11-25: clients may send them in upper case); the path compares exactly."""
        folded = _fold_origin(value)
        return next((a for a in self.accepted_resources(conn) if _fold_origin(a) == folded), None)

    def connector_path(self, request_path: str) -> str:
        """The form of the connector URL a request came to: ``/mcp/`` for ``/mcp/``, ``/sse`` for ``/messages/``."""
        if request_path.startswith("/messages"):
            return SSE_PATH
        return request_path if request_path in self.resource_paths() else MCP_PATH

    def resource_metadata_url(self, conn: HTTPConnection) -> str:
        """Where the Protected Resource Metadata of the connector URL this request came to is (RFC 9728 §3.1):
        its ``resource`` is then exactly the URL the client used."""
        return self.base_url(conn) + PRM_PATH + self.connector_path(conn.url.path)

    def assertion_audiences(self, conn: HTTPConnection) -> list[str]:
        """What a client assertion (private_key_jwt) may name as ``aud``: the issuer, the token endpoint,
        or the endpoint it is sent to (RFC 7523 §3)."""
        base = self.base_url(conn)
        return list(dict.fromkeys([self.issuer(conn), base + "/token", base + conn.url.path]))

    # -- scopes ----------------------------------------------------------------------------

    def grantable_scopes(self, user: User | None) -> set[str]:
        if user is None:
            return set(self.supported_scopes)
        return self.policy.role_scopes(user.role, self.supported_scopes)

    # -- token minting ---------------------------------------------------------------------

    async def mint(
        self,
        conn: HTTPConnection,
        grant: Grant,
        user: User | None,
        *,
        refresh: bool,
        nonce: str | None = None,
    ) -> IssuedTokens:
        """Access token (JWT, audience = the grant's resource), plus refresh and ID tokens when granted."""
        minted = time.time()
        now = int(minted)
        scopes = grant.scope.split()
        claims: dict[str, Any] = {
            "iss": self.issuer(conn),
            "sub": grant.user_id,
            "aud": grant.resource,
            "iat": now,
            "iat_ms": int(minted * 1000),  # compared with the user's tokens_valid_after (milliseconds)
            "nbf": now,
            "exp": now + self.auth.access_token_ttl,
            "jti": uuid.uuid4().hex,
            "client_id": grant.client_id,
            "scope": grant.scope,
            "fid": grant.family_id,
        }
        if user is not None:
            claims["username"] = user.username
            claims["role"] = user.role
        await self.keys.refresh_if_stale()
        access = self.keys.sign(claims)
        refresh_token = None
        if refresh and OFFLINE_ACCESS in scopes:
            refresh_token = await self.grants.issue_refresh_token(grant)
        id_token = None
        if "openid" in scopes and user is not None:
            id_claims: dict[str, Any] = {
                "iss": self.issuer(conn),
                "sub": user.id,
                "aud": grant.client_id,
                "iat": now,
                "exp": now + self.auth.access_token_ttl,
                "auth_time": now,
            }
            if nonce:
                id_claims["nonce"] = nonce
            if "profile" in scopes:
                id_claims["preferred_username"] = user.username
                if user.display_name:
                    id_claims["name"] = user.display_name
            if "email" in scopes and user.email:
                id_claims["email"] = user.email
            id_token = self.keys.sign(id_claims, typ="JWT")
        return IssuedTokens(access, self.auth.access_token_ttl, grant.scope, refresh_token, id_token)
