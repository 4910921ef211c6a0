"""The browser login session: a signed, HttpOnly cookie holding the user id and a CSRF token."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "bh_session"
MAX_AGE = 12 * 3600


@dataclass
class BrowserSession:
    """What the cookie says: who is signed in (if anyone) and this browser's CSRF token."""

    csrf: str
    user_id: str | None = None
    login_at: int = 0
    changed: bool = False


class SessionCodec:
    """Reads and writes the session cookie, signed with the server's session secret.

    The secret is asked for on first use: it may live in the store, which is
    only reachable once the server has started.
    """

    def __init__(self, secret: Callable[[], str]) -> None:
        self._secret = secret
        self._signer: URLSafeTimedSerializer | None = None

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            secret = self._secret()
            if not secret:
                raise RuntimeError("the session secret is not loaded yet")
            self._signer = URLSafeTimedSerializer(secret, salt="bridgehead.session")
        return self._signer

    def load(self, request: Request) -> BrowserSession:
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data: dict[str, Any] = self._serializer.loads(raw, max_age=MAX_AGE)
                return BrowserSession(str(data["csrf"]), data.get("uid"), int(data.get("t", 0)))
            except (BadSignature, KeyError, TypeError, ValueError):
                pass
        return BrowserSession(csrf=secrets.token_urlsafe(24), changed=True)

    def save(self, session: BrowserSession, request: Request, response: Response) -> None:
        if not session.changed:
            return
        value = self._serializer.dumps({"csrf": session.csrf, "uid": session.user_id, "t": session.login_at})
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )

    def sign_in(self, session: BrowserSession, user_id: str) -> None:
        session.user_id = user_id
        session.login_at = int(time.time())
        session.csrf = secrets.token_urlsafe(24)  # a new token after login, against fixation
        session.changed = True

    def sign_out(self, session: BrowserSession) -> None:
        session.user_id = None
        session.csrf = secrets.token_urlsafe(24)
        session.changed = True

    def signer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._serializer.secret_keys[-1], salt=salt)


def csrf_ok(session: BrowserSession, submitted: object) -> bool:
    # Compared as bytes: compare_digest refuses non-ASCII str, and a form can send anything.
    return isinstance(submitted, str) and secrets.compare_digest(session.csrf.encode(), submitted.encode())
