"""ES256 signing keys for access tokens: kept in the store, rotated without breaking live tokens.

The newest unretired key signs. Retired keys keep verifying until every
token they signed has expired, then drop out of the JWKS. Every replica
reloads the key set from the store periodically and on an unknown ``kid``,
so a rotation on one replica is honoured by all.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import insert, select, update

from bridgehead.store import Database
from bridgehead.store.models import SigningKeyRow

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"
# Asymmetric JWS algorithms Bridgehead accepts from others (client assertions, upstream ID tokens):
# never "none" or the HMAC family, whose "key" would be public.
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
RELOAD_INTERVAL = 60.0
UNKNOWN_KID_RELOAD_INTERVAL = 5.0


class InvalidToken(Exception):
    """The token is malformed, expired, for someone else, or signed by a key we do not know."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey | None
    public_key: ec.EllipticCurvePublicKey
    public_jwk: dict[str, Any]
    created_at: int
    retired_at: int | None


def _generate() -> tuple[str, str, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = uuid.uuid4().hex[:16]
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return kid, pem, jwk


class KeyRing:
    """The server's signing keys, cached in memory."""

    def __init__(self, database: Database, *, max_token_ttl: int) -> None:
        self.database = database
        self.max_token_ttl = max_token_ttl
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = 0.0
        self._last_unknown_reload = 0.0

    async def load(self) -> None:
        """Load keys from the store, creating the first one if there is none."""
        await self._reload()
        if self._active() is None:
            await self._insert_new_key()
            await self._reload()

    async def rotate(self) -> str:
        """Start signing with a new key; the old ones keep verifying until their tokens expire."""
        now = int(time.time())
        async with self.database.connect() as conn:
            await conn.execute(
                update(SigningKeyRow).where(SigningKeyRow.retired_at.is_(None)).values(retired_at=now)
            )
        kid = await self._insert_new_key()
        await self._reload()
        return kid

    async def _insert_new_key(self) -> str:
        kid, pem, jwk = _generate()
        async with self.database.connect() as conn:
            await conn.execute(
                insert(SigningKeyRow).values(
                    kid=kid, private_pem=pem, public_jwk=jwk, created_at=int(time.time()), retired_at=None
                )
            )
        logger.info("created signing key %s", kid)
        return kid

    async def _reload(self) -> None:
        # A replica that has not reloaded yet may still sign with a just-retired key for up to
        # RELOAD_INTERVAL, so its tokens must verify that much longer (plus clock leeway).
        cutoff = int(time.time()) - self.max_token_ttl - int(RELOAD_INTERVAL) - 60
        async with self.database.connect() as conn:
            rows = (await conn.execute(select(SigningKeyRow))).all()
        keys: dict[str, SigningKey] = {}
        for row in rows:
            if row.retired_at is not None and row.retired_at < cutoff:
                continue  # every token it signed has expired
            private = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            keys[row.kid] = SigningKey(
                row.kid, private, private.public_key(), dict(row.public_jwk), row.created_at, row.retired_at
            )
        self._keys = keys
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self) -> None:
        if time.monotonic() - self._loaded_at > RELOAD_INTERVAL:
            await self._reload()

    def _active(self) -> SigningKey | None:
        active = [k for k in self._keys.values() if k.retired_at is None]
        return max(active, key=lambda k: (k.created_at, k.kid)) if active else None

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in sorted(self._keys.values(), key=lambda k: -k.created_at)]}

    def sign(self, claims: dict[str, Any], *, typ: str = "at+jwt") -> str:
        key = self._active()
        if key is None or key.private_key is None:
            raise RuntimeError("no active signing key; call KeyRing.load() first")
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": typ})

    async def verify(self, token: str, *, issuer: str, audiences: list[str]) -> dict[str, Any]:
        """Verify signature, expiry, issuer and audience; raise InvalidToken otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise InvalidToken("unsupported token algorithm or missing key id")
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_unknown_reload > UNKNOWN_KID_RELOAD_INTERVAL:
            self._last_unknown_reload = time.monotonic()
            await self._reload()
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("token signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                issuer=issuer,
                audience=audiences,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token was issued for another resource") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        return claims
