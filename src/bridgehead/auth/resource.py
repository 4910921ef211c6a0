"""The resource server: bearer-token verification and challenges for the MCP endpoints.

Tokens are Bridgehead's own ES256 JWTs. Beyond signature, expiry, issuer and
audience, a token is refused when it was revoked (by ``jti``), its grant was
revoked (``fid``), its user was disabled or had all tokens revoked, or its
client was revoked. Those store look-ups are cached briefly so a replica
honours a revocation made on another within ``REVOCATION_CACHE_SECONDS``.

A cached answer is refreshed in the background once it is
``REFRESH_AFTER_SECONDS`` old, by one query however many requests need it:
when every request that found it expired ran its own queries, a busy server
stalled every five seconds (p99 several times the median). No answer older
than ``REVOCATION_CACHE_SECONDS`` is ever used; then requests wait for the
one query in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
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

logger = logging.getLogger(__name__)

REVOCATION_CACHE_SECONDS = 5.0
REFRESH_AFTER_SECONDS = 3.0
VERIFIED_CACHE_SIZE = 10_000
REVOCATION_CACHE_SIZE = 50_000


@dataclass
class _Cached:
    value: bool
    at: float


class TokenVerifier:
    """Verifies access tokens and turns them into Callers."""

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self._cache: dict[str, _Cached] = {}
        self._inflight: dict[str, asyncio.Task[bool]] = {}
        self._clock: Callable[[], float] = time.monotonic
        # Verified signatures, by token: a client sends the same token for many calls, and an
        # ECDSA verification costs more than the rest of the request. Expiry is re-checked on use.
        self._verified: dict[str, dict[str, Any]] = {}
        # What those claims become for the policy and the SDK, built once per verified token.
        self._identities: dict[str, tuple[dict[str, Any], Caller, AuthenticatedUser]] = {}
        # Tokens whose revocation checks all passed: (issuer, expiry, when the oldest answer they used
        # was fetched, caller, user). Until that answer is REFRESH_AFTER_SECONDS old the same answers
        # would be used again, so the token's next requests skip the four look-ups (see ``recent``).
        self._recent: dict[str, tuple[str, float, float, Caller, AuthenticatedUser]] = {}

    def recent(self, token: str, issuer: str) -> tuple[Caller, AuthenticatedUser] | None:
        """The identity of ``token`` when ``verify`` would accept it without a look-up: it passed every
        check for ``issuer``, has not expired, and the revocation answers it passed with are younger
        than REFRESH_AFTER_SECONDS. None: ask ``verify``."""
        hit = self._recent.get(token)
        if (
            hit is None
            or hit[0] != issuer
            or hit[1] <= time.time()
            or self._clock() - hit[2] >= REFRESH_AFTER_SECONDS
        ):
            return None
        return hit[3], hit[4]

    def identity(self, token: str, claims: dict[str, Any]) -> tuple[Caller, AuthenticatedUser]:
        """The Caller and the SDK's user for verified ``claims`` of ``token`` (cached with them)."""
        hit = self._identities.get(token)
        if hit is not None and hit[0] is claims:
            return hit[1], hit[2]
        caller, user = caller_from_claims(claims), authenticated_user(token, claims)
        if len(self._identities) >= VERIFIED_CACHE_SIZE:
            self._identities.clear()
        self._identities[token] = (claims, caller, user)
        return caller, user

    async def _cached(self, key: str, compute: Callable[[], Awaitable[object]]) -> bool:
        """``compute()``'s answer, at most REVOCATION_CACHE_SECONDS old, with one query per key at a time."""
        hit = self._cache.get(key)
        if hit is not None:
            age = self._clock() - hit.at
            if age < REVOCATION_CACHE_SECONDS:
                if age >= REFRESH_AFTER_SECONDS:
                    self._refresh(key, compute)
                return hit.value
        # Shielded: a request that goes away must not cancel the query others are waiting for.
        return await asyncio.shield(self._refresh(key, compute))

    def _refresh(self, key: str, compute: Callable[[], Awaitable[object]]) -> asyncio.Task[bool]:
        """The query in flight for ``key``, started if there is none."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key, compute), name="bridgehead-revocation-check")
            task.add_done_callback(_log_failed_refresh)
            self._inflight[key] = task
        return task

    async def _fetch(self, key: str, compute: Callable[[], Awaitable[object]]) -> bool:
        started = self._clock()  # the answer is as old as the moment the query began
        try:
            value = bool(await compute())
        finally:
            self._inflight.pop(key, None)
        if len(self._cache) >= REVOCATION_CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = _Cached(value, started)
        return value

    async def verify(self, token: str, conn: HTTPConnection) -> dict[str, Any]:
        """Claims of a valid, unrevoked token for this resource; InvalidToken otherwise."""
        service = self.service
        issuer = service.issuer(conn)
        claims = self._verified.get(token)
        if claims is None or claims["iss"] != issuer or claims["exp"] <= time.time():
            claims = await service.keys.verify(
                token, issuer=issuer, audiences=service.accepted_resources(conn)
            )
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
            self._recent.pop(token, None)
        if "client_id" not in claims or "scope" not in claims:
            raise InvalidToken("not an access token")
        if self.recent(token, issuer) is not None:
            return claims
        jti, fid, sub, client_id = claims["jti"], claims.get("fid"), claims["sub"], claims["client_id"]
        keys = [f"jti:{jti}", f"client:{client_id}"]
        if await self._cached(keys[0], lambda: service.grants.access_token_revoked(jti)):
            raise InvalidToken("token revoked")
        if fid:
            keys.append(f"fid:{fid}")
            if await self._cached(keys[-1], lambda: service.grants.family_revoked(fid)):
                raise InvalidToken("token revoked")

        async def client_revoked() -> bool:
            client = await service.clients.get(client_id)
            return client is None or client.revoked

        if await self._cached(keys[1], client_revoked):
            raise InvalidToken("the client of this token has been revoked")
        if not str(sub).startswith("client:"):

            async def user_refuses() -> bool:
                user = await service.users.get(sub)
                minted_ms = int(claims.get("iat_ms", int(claims["iat"]) * 1000))
                return user is None or user.disabled or user.tokens_valid_after > minted_ms

            keys.append(f"user:{sub}:{claims.get('iat_ms', claims['iat'])}")
            if await self._cached(keys[-1], user_refuses):
                raise InvalidToken("the user's tokens were revoked or the account is disabled")
        self._remember_passed(token, claims, keys)
        return claims

    def _remember_passed(self, token: str, claims: dict[str, Any], keys: list[str]) -> None:
        answers = [self._cache.get(key) for key in keys]
        if any(answer is None for answer in answers):
            return  # evicted meanwhile: the next request looks them up again
        if len(self._recent) >= VERIFIED_CACHE_SIZE:
            self._recent.clear()
        passed_at = min(answer.at for answer in answers if answer is not None)
        caller, user = self.identity(token, claims)
        self._recent[token] = (str(claims["iss"]), float(claims["exp"]), passed_at, caller, user)


def _log_failed_refresh(task: asyncio.Task[bool]) -> None:
    """A background refresh nobody awaited: its failure is logged, not left as a warning at exit."""
    if not task.cancelled() and task.exception() is not None:
        logger.warning("revocation check failed: %s", task.exception())


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


@dataclass(frozen=True)
class Denial:
    """Why a request to the MCP endpoint is refused, as HTTP status and OAuth error."""

    status: int
    error: str
    description: str
    scope_hint: str | None = None


def authenticated_user(token: str, claims: dict[str, Any]) -> AuthenticatedUser:
    """The SDK's user object for verified claims (transports bind sessions to it)."""
    caller = caller_from_claims(claims)
    return AuthenticatedUser(
        AccessToken(
            token=token,
            client_id=caller.client_id or "",
            scopes=sorted(caller.scopes),
            expires_at=int(claims["exp"]),
            resource=str(claims["aud"]) if isinstance(claims["aud"], str) else None,
            subject=caller.user_id,
            claims=claims,
        )
    )


class BearerGuard:
    """The resource server's decisions for one request: who the bearer is, and whether a call needs more scope."""

    def __init__(self, service: AuthService, verifier: TokenVerifier, scope_check: Any) -> None:
        self.service = service
        self.verifier = verifier
        # (caller, tool name) -> missing scopes; decided by the policy over the live tool surface.
        self.scope_check = scope_check

    def recent_identity(
        self, header: str | None, conn: HTTPConnection
    ) -> tuple[Caller, AuthenticatedUser] | None:
        """The bearer's identity, without awaiting anything, when its token passed every check of
        ``authenticate`` moments ago (TokenVerifier.recent); None: ``authenticate`` decides."""
        if not header:
            return None
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer":
            return None
        return self.verifier.recent(token.strip(), self.service.issuer(conn))

    async def authenticate(self, conn: HTTPConnection) -> tuple[str, dict[str, Any]] | Denial | None:
        """(token, claims) for a valid bearer; None for an anonymous request the mode allows; else a Denial."""
        return await self.authenticate_header(conn.headers.get("authorization"), conn)

    async def authenticate_header(
        self, header: str | None, conn: HTTPConnection
    ) -> tuple[str, dict[str, Any]] | Denial | None:
        """``authenticate`` for the request's Authorization header (its first), already read."""
        if not header:
            if self.service.auth.mode == "oauth":
                return Denial(401, "invalid_request", "Authentication required")
            return None
        kind, _, token = header.partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            return Denial(401, "invalid_request", "Use an OAuth bearer token")
        try:
            return token, await self.verifier.verify(token, conn)
        except InvalidToken as exc:
            return Denial(401, "invalid_token", str(exc))

    def step_up(self, caller: Caller, message: Any) -> Denial | None:
        """403 insufficient_scope when a tools/call needs scope the token lacks (MCP step-up)."""
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str):
            return None
        missing: list[str] = self.scope_check(caller, name)
        if not missing:
            return None
        return Denial(
            403,
            "insufficient_scope",
            f"This call needs scope {' '.join(missing)}",
            scope_hint=" ".join(sorted(caller.scopes | set(missing))),
        )

    async def send_denial(self, denial: Denial, conn: HTTPConnection, send: Send) -> None:
        hint = (
            denial.scope_hint if denial.scope_hint is not None else " ".join(self.service.auth.default_scopes)
        )
        # RFC 6750 §3.1: a request that carried no token gets a challenge without error information.
        carried_token = denial.status == 403 or denial.error == "invalid_token"
        challenge = bearer_challenge(
            self.service, conn, error=denial.error if carried_token else None,
            description=denial.description if carried_token else None, scope=hint,
        )  # fmt: skip
        body = orjson.dumps({"error": denial.error, "error_description": denial.description})
        await send(
            {
                "type": "http.response.start",
                "status": denial.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge.encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BearerAuthMiddleware:
    """Guards the MCP transports: verifies bearer tokens and answers 401/403 as the MCP spec says."""

    def __init__(self, app: ASGIApp, guard: BearerGuard, max_body: int) -> None:
        self.app = app
        self.guard = guard
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        outcome = await self.guard.authenticate(conn)
        if outcome is None:
            await self.app(scope, receive, send)
            return
        if isinstance(outcome, Denial):
            await self.guard.send_denial(outcome, conn, send)
            return
        token, claims = outcome
        if scope["method"] == "POST":
            buffered = await _buffer_body(receive, self.max_body)
            if buffered is None:
                await _plain(send, 413, b"Request body too large")
                return
            body, receive = buffered
            try:
                message = orjson.loads(body)
            except orjson.JSONDecodeError:
                message = None  # the transport answers the parse error itself
            denial = self.guard.step_up(caller_from_claims(claims), message)
            if denial is not None:
                await self.guard.send_denial(denial, conn, send)
                return
        user = authenticated_user(token, claims)
        scope = {**scope, "user": user}
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)


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
