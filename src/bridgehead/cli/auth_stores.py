"""The authorization server's stores as the auth commands see them: opened from the settings, migrated
first, closed afterwards. Nothing here reads a secret column (password hashes, client secrets, private keys).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bridgehead.auth.clients import ClientStore
from bridgehead.auth.grants import GrantStore
from bridgehead.auth.keys import KeyRing
from bridgehead.auth.resource import REVOCATION_CACHE_SECONDS
from bridgehead.auth.users import User, UserStore
from bridgehead.cli.common import CommandError, run
from bridgehead.config import Settings
from bridgehead.store import Database
from bridgehead.store.models import ClientRow, SigningKeyRow, UserRow

T = TypeVar("T")


@dataclass(frozen=True)
class ClientDates:
    """When a client registered and, if it was, when it was revoked (Unix seconds)."""

    created_at: int
    revoked_at: int | None


@dataclass(frozen=True)
class SigningKeyInfo:
    """A signing key's public facts and where it is in its life."""

    kid: str
    created_at: int
    retired_at: int | None
    state: str  # "signing", "verifying" or "expired"
    verifies_until: int | None  # None while it may still sign


@dataclass(frozen=True)
class AuthStores:
    """Users, clients, grants and signing keys of one store."""

    settings: Settings
    database: Database
    users: UserStore
    clients: ClientStore
    grants: GrantStore
    keys: KeyRing

    async def user(self, username: str) -> User:
        """The user with this name; CommandError when there is none."""
        user = await self.users.by_username(username)
        if user is None:
            raise CommandError(f"no user named {username!r} (see: bridgehead users list)")
        return user

    # The stores' dataclasses do not carry these columns, so the listings read them here.

    async def last_logins(self) -> dict[str, datetime | None]:
        """User id → last sign-in time (UTC)."""
        async with self.database.connect() as conn:
            rows = (await conn.execute(select(UserRow.id, UserRow.last_login_at))).all()
        return {row.id: _utc(row.last_login_at) for row in rows}

    async def client_dates(self) -> dict[str, ClientDates]:
        async with self.database.connect() as conn:
            rows = (
                await conn.execute(select(ClientRow.client_id, ClientRow.created_at, ClientRow.revoked_at))
            ).all()
        return {row.client_id: ClientDates(row.created_at, row.revoked_at) for row in rows}

    async def signing_keys(self) -> list[SigningKeyInfo]:
        """Every signing key in the store, newest first."""
        async with self.database.connect() as conn:
            rows = (
                await conn.execute(
                    select(SigningKeyRow.kid, SigningKeyRow.created_at, SigningKeyRow.retired_at)
                )
            ).all()
        ttl = self.settings.auth.access_token_ttl
        now = int(time.time())
        unretired = [r for r in rows if r.retired_at is None]
        signer = max(unretired, key=lambda r: (r.created_at, r.kid)) if unretired else None
        keys = []
        for row in sorted(rows, key=lambda r: (r.created_at, r.kid), reverse=True):
            if row.retired_at is None:
                # Only the newest unretired key signs; an older one (a rotation race) only verifies.
                state, until = ("signing", None) if row is signer else ("verifying", None)
            else:
                until = row.retired_at + ttl
                state = "verifying" if until >= now else "expired"
            keys.append(SigningKeyInfo(row.kid, row.created_at, row.retired_at, state, until))
        return keys


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    # SQLite hands back naive datetimes; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def revocation_note() -> str:
    """How soon running servers honour a revocation: they cache each check briefly."""
    return f"running servers notice within {REVOCATION_CACHE_SECONDS:g} s"


def open_auth_stores(settings: Settings) -> AuthStores:
    """The stores of ``settings``' database (not migrated yet; ``run_on_stores`` does that)."""
    auth = settings.auth
    database = Database(settings.store_url(), echo=settings.store.echo)
    return AuthStores(
        settings,
        database,
        UserStore(database, set(auth.roles)),
        # Listing and revoking clients never validates requested scopes, so none are needed here.
        ClientStore(database, supported_scopes=[]),
        GrantStore(
            database,
            code_ttl=auth.authorization_code_ttl,
            refresh_ttl=auth.refresh_token_ttl,
            access_ttl=auth.access_token_ttl,
        ),
        KeyRing(database, max_token_ttl=auth.access_token_ttl),
    )


def store_label(settings: Settings) -> str:
    """The store URL with any password masked, fit to print."""
    return make_url(settings.store_url()).render_as_string(hide_password=True)


def run_on_stores(settings: Settings, action: Callable[[AuthStores], Awaitable[T]]) -> T:
    """Migrate the store, run ``action`` on its auth stores and close it; store failures become CommandError."""

    async def session() -> T:
        stores = open_auth_stores(settings)
        try:
            await stores.database.migrate()
            return await action(stores)
        finally:
            await stores.database.close()

    try:
        return run(session())
    except (SQLAlchemyError, OSError) as exc:
        reason = getattr(exc, "orig", None) or exc
        first_line = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        raise CommandError(f"the store at {store_label(settings)} failed: {first_line}") from exc
