"""The resource server: bearer-token verification and challenges for the MCP endpoints.

Tokens are Bridgehead's own ES256 JWTs. Beyond signature, expiry, issuer and
audience, a token is refused when it was revoked (by ``jti``), its grant was
revoked (``fid``), its user was disabled or had all tokens revoked, or its
client was revoked. Those store look-ups are cached briefly so a replica
honours a revocation made on another within ``REVOCATION_CACHE_SECONDS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridgehead.auth.keys import InvalidToken
from bridgehead.auth.service import AuthService
from bridgehead.policy import Caller

REVOCATION_CACHE_SECONDS = 5.0


@dataclass
class _Cached:
    value: bool
    at: float


class TokenVerifier:
    """Verifies access tokens and turns them into Callers."""

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self._cache: dict[str, _Cached] = {}

    async def _cached(self, key: str, compute: Any) -> bool:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit.at < REVOCATION_CACHE_SECONDS:
            return hit.value
        value = bool(await compute())
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = _Cached(value, now)
        return value

    async def verify(self, token: str, conn: HTTPConnection) -> dict[str, Any]:
        """Claims of a valid, unrevoked token for this resource; InvalidToken otherwise."""
        service = self.service
        claims = await service.keys.verify(
            token, issuer=service.issuer(conn), audiences=service.accepted_resources(conn)
        )
        if "client_id" not in claims or "scope" not in claims:
            raise InvalidToken("not an access token")
        jti, fid, sub, client_id = claims["jti"], claims.get("fid"), claims["sub"], claims["client_id"]
        if await self._cached(f"jti:{jti}", lambda: service.grants.access_token_revoked(jti)):
            raise InvalidToken("token revoked")
        if fid and await self._cached(f"fid:{fid}", lambda: service.grants.family_revoked(fid)):
            raise InvalidToken("token revoked")

        async def client_revoked() -> bool:
            client = await service.clients.get(client_id)
            return client is None or client.revoked

        if await self._cached(f"client:{client_id}", client_revoked):
            raise InvalidToken("the client of this token has been revoked")
        if not str(sub).startswith("client:"):

            async def user_refuses() -> bool:
                user = await service.users.get(sub)
                return user is None or user.disabled or user.tokens_valid_after > int(claims["iat"])

            if await self._cached(f"user:{sub}:{claims['iat']}", user_refuses):
                raise InvalidToken("the user's tokens were revoked or the account is disabled")
        return claims


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    return Caller(
        authenticated=True,
        user_id=str(claims["sub"]),
        username=claims.get("username"),
        role=claims.get("role"),
        client_id=str(claims["client_id"]),
        scopes=frozenset(str(claims.get("scope", "")).split()),
    )


def caller_from_access_token(token: AccessToken | None) -> Caller:
    """The Caller for the current request, from the SDK's auth context."""
    if token is None or token.claims is None:
        return Caller.anonymous()
    return caller_from_claims(token.claims)


def bearer_challenge(
    service: AuthService,
    conn: HTTPConnection,
    *,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
) -> str:
    """A ``WWW-Authenticate: Bearer …`` value pointing at our Protected Resource Metadata."""
    parts = [f'resource_metadata="{service.resource_metadata_url(conn)}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description.replace(chr(34), chr(39))}"')
    return "Bearer " + ", ".join(parts)


class BearerAuthMiddleware:
    """Guards the MCP transports: verifies bearer tokens and answers 401/403 as the MCP spec says."""

    def __init__(
        self, app: ASGIApp, service: AuthService, verifier: TokenVerifier, scope_check: Any, max_body: int
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.service = service
        self.verifier = verifier
        # (caller, tool name) -> missing scopes or None; decided by the policy over the live tool surface.
        self.scope_check = scope_check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        mode = self.service.auth.mode
        header = conn.headers.get("authorization")
        if not header:
            if mode == "oauth":
                await self._deny(scope, send, 401, "invalid_request", "Authentication required", conn)
                return
            await self.app(scope, receive, send)
            return
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            await self._deny(scope, send, 401, "invalid_request", "Use an OAuth bearer token", conn)
            return
        try:
            claims = await self.verifier.verify(token.strip(), conn)
        except InvalidToken as exc:
            await self._deny(scope, send, 401, "invalid_token", str(exc), conn)
            return
        caller = caller_from_claims(claims)
        if scope["method"] == "POST":
            buffered = await _buffer_body(receive, self.max_body)
            if buffered is None:
                await _plain(send, 413, b"Request body too large")
                return
            body, receive = buffered
            missing = self._missing_scopes(caller, body)
            if missing:
                await self._deny(
                    scope,
                    send,
                    403,
                    "insufficient_scope",
                    f"This call needs scope {' '.join(missing)}",
                    conn,
                    scope_hint=" ".join(sorted(caller.scopes | set(missing))),
                )
                return
        access = AccessToken(
            token=token.strip(),
            client_id=caller.client_id or "",
            scopes=sorted(caller.scopes),
            expires_at=int(claims["exp"]),
            resource=str(claims["aud"]) if isinstance(claims["aud"], str) else None,
            subject=caller.user_id,
            claims=claims,
        )
        user = AuthenticatedUser(access)
        scope = {**scope, "user": user}
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)

    def _missing_scopes(self, caller: Caller, body: bytes) -> list[str]:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []  # the transport answers the parse error itself
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return []
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str):
            return []
        missing: list[str] = self.scope_check(caller, name)
        return missing

    async def _deny(
        self,
        scope: Scope,
        send: Send,
        status: int,
        error: str,
        description: str,
        conn: HTTPConnection,
        scope_hint: str | None = None,
    ) -> None:
        hint = scope_hint if scope_hint is not None else " ".join(self.service.auth.default_scopes)
        # RFC 6750 §3.1: a request that carried no token gets a challenge without error information.
        carried_token = status == 403 or error == "invalid_token"
        challenge = bearer_challenge(
            self.service, conn, error=error if carried_token else None,
            description=description if carried_token else None, scope=hint,
        )  # fmt: skip
        body = orjson.dumps({"error": error, "error_description": description})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge.encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, text: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
    )
    await send({"type": "http.response.body", "body": text})


async def _buffer_body(receive: Receive, limit: int) -> tuple[bytes, Receive] | None:
    """Read the whole request body (None past ``limit`` bytes) and return a receive() that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
