"""Users: local accounts with argon2 passwords, and federated accounts keyed by (issuer, subject)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bridgehead.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, needs_rehash, verify_password
from bridgehead.store import Database
from bridgehead.store.models import UserRow


def now_ms() -> int:
    """Milliseconds since the epoch: token invalidation must not refuse tokens minted later in the same second."""
    return int(time.time() * 1000)


USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")


class UserError(ValueError):
    """A user operation that cannot be done as asked."""


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: str
    disabled: bool
    email: str | None
    display_name: str | None
    issuer: str | None
    tokens_valid_after: int
    """Epoch milliseconds; access tokens minted before it are refused."""

    @property
    def federated(self) -> bool:
        return self.issuer is not None


def _user(row: UserRow) -> User:
    return User(
        row.id,
        row.username,
        row.role,
        row.disabled,
        row.email,
        row.display_name,
        row.issuer,
        row.tokens_valid_after,
    )


class UserStore:
    """Create, find and authenticate users."""

    def __init__(self, database: Database, roles: set[str]) -> None:
        self.database = database
        self.roles = roles

    def _check_role(self, role: str) -> None:
        if role not in self.roles:
            raise UserError(f"unknown role {role!r} (configured: {', '.join(sorted(self.roles))})")

    async def add(self, username: str, password: str, role: str, *, email: str | None = None) -> User:
        if not USERNAME.match(username):
            raise UserError(
                "usernames are 1-255 letters, digits and . _ @ + -, starting with a letter or digit"
            )
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
        self._check_role(role)
        row = UserRow(
            id=uuid.uuid4().hex,
            username=username,
            password_hash=hash_password(password),
            role=role,
            disabled=False,
            email=email,
            tokens_valid_after=0,
        )
        try:
            async with self.database.session() as session:
                session.add(row)
        except IntegrityError as exc:
            raise UserError(f"user {username!r} already exists") from exc
        return _user(row)

    async def get(self, user_id: str) -> User | None:
        async with self.database.sessions() as session:
            row = await session.get(UserRow, user_id)
            return _user(row) if row else None

    async def by_username(self, username: str) -> User | None:
        async with self.database.sessions() as session:
            row = (
                await session.execute(select(UserRow).where(UserRow.username == username))
            ).scalar_one_or_none()
            return _user(row) if row else None

    async def list(self) -> list[User]:
        async with self.database.sessions() as session:
            rows = (await session.execute(select(UserRow).order_by(UserRow.username))).scalars().all()
            return [_user(r) for r in rows]

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account is enabled; None otherwise (same timing)."""
        async with self.database.session() as session:
            row = (
                await session.execute(select(UserRow).where(UserRow.username == username))
            ).scalar_one_or_none()
            ok = verify_password(password, row.password_hash if row else None)
            if row is None or not ok or row.disabled:
                return None
            if row.password_hash and needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
            row.last_login_at = datetime.now(UTC)
            return _user(row)

    async def set_role(self, username: str, role: str) -> User:
        self._check_role(role)
        return await self._update(username, role=role)

    async def set_disabled(self, username: str, disabled: bool) -> User:
        values: dict[str, object] = {"disabled": disabled}
        if disabled:
            values["tokens_valid_after"] = now_ms()
        return await self._update(username, **values)

    async def set_password(self, username: str, password: str) -> User:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
        return await self._update(username, password_hash=hash_password(password))

    async def invalidate_tokens(self, user_id: str) -> None:
        """Every access token issued to this user before now stops working."""
        async with self.database.connect() as conn:
            await conn.execute(
                update(UserRow).where(UserRow.id == user_id).values(tokens_valid_after=now_ms())
            )

    async def _update(self, username: str, **values: object) -> User:
        async with self.database.session() as session:
            row = (
                await session.execute(select(UserRow).where(UserRow.username == username))
            ).scalar_one_or_none()
            if row is None:
                raise UserError(f"no user named {username!r}")
            for key, value in values.items():
                setattr(row, key, value)
            return _user(row)

    async def upsert_federated(
        self, issuer: str, subject: str, username: str, role: str, email: str | None, display_name: str | None
    ) -> User:
        """Find or create the account for an upstream identity; role, email and name follow the IdP."""
        self._check_role(role)
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(UserRow).where(UserRow.issuer == issuer, UserRow.subject == subject)
                )
            ).scalar_one_or_none()
            if row is None:
                taken = (
                    await session.execute(select(UserRow.id).where(UserRow.username == username))
                ).scalar_one_or_none()
                row = UserRow(
                    id=uuid.uuid4().hex,
                    username=username if taken is None else f"{username}#{subject[:12]}",
                    password_hash=None,
                    role=role,
                    disabled=False,
                    issuer=issuer,
                    subject=subject,
                    tokens_valid_after=0,
                )
                session.add(row)
            row.role = role
            row.email = email
            row.display_name = display_name
            row.last_login_at = datetime.now(UTC)
            await session.flush()
            return _user(row)
