"""Authorization codes and refresh tokens: issued once, stored hashed, rotated with reuse detection.

Every authorization (one code, and the refresh tokens rotated from it) is a
*family*. Presenting a used code or a rotated refresh token again is treated
as theft: the whole family is revoked, access tokens included.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, insert, select, update

from bridgehead.auth.errors import invalid_grant
from bridgehead.auth.opaque import hash_secret, new_secret
from bridgehead.store import Database
from bridgehead.store.models import AuthorizationCodeRow, RefreshTokenRow, RevokedFamilyRow, RevokedTokenRow


@dataclass(frozen=True)
class Grant:
    """What a redeemed code or refresh token authorizes."""

    family_id: str
    client_id: str
    user_id: str
    scope: str
    resource: str


@dataclass(frozen=True)
class CodeGrant(Grant):
    redirect_uri: str
    code_challenge: str
    nonce: str | None


class GrantStore:
    """Codes, refresh tokens and revocations in the store."""

    def __init__(self, database: Database, *, code_ttl: int, refresh_ttl: int, access_ttl: int) -> None:
        self.database = database
        self.code_ttl = code_ttl
        self.refresh_ttl = refresh_ttl
        self.access_ttl = access_ttl

    async def issue_code(
        self,
        *,
        client_id: str,
        user_id: str,
        redirect_uri: str,
        scope: str,
        resource: str,
        code_challenge: str,
        nonce: str | None = None,
    ) -> str:
        code = new_secret("bhc_")
        async with self.database.connect() as conn:
            await conn.execute(
                insert(AuthorizationCodeRow).values(
                    code_hash=hash_secret(code),
                    client_id=client_id,
                    user_id=user_id,
                    redirect_uri=redirect_uri,
                    scope=scope,
                    resource=resource,
                    code_challenge=code_challenge,
                    nonce=nonce,
                    expires_at=int(time.time()) + self.code_ttl,
                    used_at=None,
                    family_id=uuid.uuid4().hex,
                )
            )
        return code

    async def redeem_code(self, code: str, client_id: str) -> CodeGrant:
        """Mark a code used and return its grant; a replayed code revokes what it already produced."""
        now = int(time.time())
        code_hash = hash_secret(code)
        async with self.database.connect() as conn:
            row = (
                await conn.execute(
                    select(AuthorizationCodeRow).where(AuthorizationCodeRow.code_hash == code_hash)
                )
            ).first()
            if row is None:
                raise invalid_grant("unknown authorization code")
            if row.client_id != client_id:
                raise invalid_grant("the authorization code was issued to another client")
            # The conditional update makes redemption atomic: of two concurrent
            # requests with the same code, exactly one wins.
            claimed = await conn.execute(
                update(AuthorizationCodeRow)
                .where(AuthorizationCodeRow.code_hash == code_hash, AuthorizationCodeRow.used_at.is_(None))
                .values(used_at=now)
            )
        if not claimed.rowcount:
            await self.revoke_family(row.family_id)
            raise invalid_grant("the authorization code was already used; tokens issued from it are revoked")
        if row.expires_at < now:
            raise invalid_grant("the authorization code has expired")
        return CodeGrant(
            row.family_id,
            row.client_id,
            row.user_id,
            row.scope,
            row.resource,
            row.redirect_uri,
            row.code_challenge,
            row.nonce,
        )

    async def issue_refresh_token(self, grant: Grant) -> str:
        token = new_secret("bhr_")
        now = int(time.time())
        async with self.database.connect() as conn:
            await conn.execute(
                insert(RefreshTokenRow).values(
                    token_hash=hash_secret(token),
                    family_id=grant.family_id,
                    client_id=grant.client_id,
                    user_id=grant.user_id,
                    scope=grant.scope,
                    resource=grant.resource,
                    created_at=now,
                    expires_at=now + self.refresh_ttl,
                    used_at=None,
                    revoked_at=None,
                )
            )
        return token

    async def rotate_refresh_token(self, token: str, client_id: str) -> Grant:
        """Consume a refresh token; reuse of a rotated one revokes the whole family."""
        now = int(time.time())
        token_hash = hash_secret(token)
        async with self.database.connect() as conn:
            row = (
                await conn.execute(select(RefreshTokenRow).where(RefreshTokenRow.token_hash == token_hash))
            ).first()
            if row is None:
                raise invalid_grant("unknown refresh token")
            if row.client_id != client_id:
                raise invalid_grant("the refresh token was issued to another client")
            if row.revoked_at is not None:
                raise invalid_grant("the refresh token has been revoked")
            claimed = await conn.execute(
                update(RefreshTokenRow)
                .where(RefreshTokenRow.token_hash == token_hash, RefreshTokenRow.used_at.is_(None))
                .values(used_at=now)
            )
        if not claimed.rowcount:
            await self.revoke_family(row.family_id)
            raise invalid_grant(
                "the refresh token was already used; every token of this grant is now revoked"
            )
        if row.expires_at < now:
            raise invalid_grant("the refresh token has expired")
        if await self.family_revoked(row.family_id):
            raise invalid_grant("the refresh token has been revoked")
        return Grant(row.family_id, row.client_id, row.user_id, row.scope, row.resource)

    async def find_refresh_token(self, token: str) -> RefreshTokenRow | None:
        async with self.database.sessions() as session:
            return await session.get(RefreshTokenRow, hash_secret(token))

    async def revoke_family(self, family_id: str) -> None:
        now = int(time.time())
        async with self.database.connect() as conn:
            await conn.execute(
                update(RefreshTokenRow)
                .where(RefreshTokenRow.family_id == family_id, RefreshTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            exists = (
                await conn.execute(
                    select(RevokedFamilyRow.family_id).where(RevokedFamilyRow.family_id == family_id)
                )
            ).first()
            if exists is None:
                await conn.execute(
                    insert(RevokedFamilyRow).values(
                        family_id=family_id,
                        revoked_at=now,
                        expires_at=now + max(self.access_ttl, self.refresh_ttl),
                    )
                )

    async def family_revoked(self, family_id: str) -> bool:
        async with self.database.connect() as conn:
            found = (
                await conn.execute(
                    select(RevokedFamilyRow.family_id).where(RevokedFamilyRow.family_id == family_id)
                )
            ).first()
        return found is not None

    async def revoke_access_token(self, jti: str, expires_at: int) -> None:
        async with self.database.connect() as conn:
            exists = (
                await conn.execute(select(RevokedTokenRow.jti).where(RevokedTokenRow.jti == jti))
            ).first()
            if exists is None:
                await conn.execute(insert(RevokedTokenRow).values(jti=jti, expires_at=expires_at))

    async def access_token_revoked(self, jti: str) -> bool:
        async with self.database.connect() as conn:
            return (
                await conn.execute(select(RevokedTokenRow.jti).where(RevokedTokenRow.jti == jti))
            ).first() is not None

    async def revoke_user(self, user_id: str) -> int:
        """Revoke every grant of a user, codes not yet exchanged included; returns how many families."""
        async with self.database.connect() as conn:
            # An approved code not yet exchanged must not yield fresh tokens afterwards.
            await conn.execute(
                update(AuthorizationCodeRow)
                .where(AuthorizationCodeRow.user_id == user_id, AuthorizationCodeRow.used_at.is_(None))
                .values(used_at=int(time.time()))
            )
        return await self._revoke_families(RefreshTokenRow.user_id == user_id)

    async def revoke_client(self, client_id: str) -> int:
        """Revoke every grant held by a client; returns how many families."""
        return await self._revoke_families(RefreshTokenRow.client_id == client_id)

    async def _revoke_families(self, holder: ColumnElement[bool]) -> int:
        async with self.database.connect() as conn:
            query = (
                select(RefreshTokenRow.family_id)
                .where(holder, RefreshTokenRow.revoked_at.is_(None))
                .distinct()
            )
            families = (await conn.execute(query)).scalars().all()
        for family in families:
            await self.revoke_family(family)
        return len(families)
