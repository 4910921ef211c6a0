"""The authorization server's parts in one place: stores, keys, policy, URLs and token minting."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from starlette.requests import HTTPConnection

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
        self.clients = ClientStore(database, supported_scopes=supported_scopes)
        self.grants = GrantStore(
            database,
            code_ttl=self.auth.authorization_code_ttl,
            refresh_ttl=self.auth.refresh_token_ttl,
            access_ttl=self.auth.access_token_ttl,
        )
        self.login_limiter = SlidingWindowLimiter(self.auth.login_attempts, self.auth.login_window)
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
        return base_url_from_scope(conn.scope, self.settings.server.public_base_url)

    def issuer(self, conn: HTTPConnection) -> str:
        """The issuer identifier: the public origin, byte-for-byte the same everywhere it appears."""
        return self.base_url(conn)

    def resource(self, conn: HTTPConnection) -> str:
        """The protected resource: the MCP endpoint URL a user pastes into ChatGPT."""
        return self.base_url(conn) + MCP_PATH

    def accepted_resources(self, conn: HTTPConnection) -> list[str]:
        """Resource indicators that name this server: with or without /mcp, with or without a trailing slash."""
        base = self.base_url(conn)
        return [base + MCP_PATH, base + MCP_PATH + "/", base, base + "/"]

    def resource_metadata_url(self, conn: HTTPConnection) -> str:
        return self.base_url(conn) + "/.well-known/oauth-protected-resource" + MCP_PATH

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
        now = int(time.time())
        scopes = grant.scope.split()
        claims: dict[str, Any] = {
            "iss": self.issuer(conn),
            "sub": grant.user_id,
            "aud": grant.resource,
            "iat": now,
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
