"""The authorization endpoint (RFC 6749 §4.1 with PKCE, RFC 7636; resource indicators, RFC 8707;
issuer in the response, RFC 9207) and the login and consent pages behind it.

Errors found before the client and its redirect URI are validated are shown
on a page: Bridgehead never redirects to a URI it has not matched exactly
against the client's registration. Errors after that go back to the client
with ``error``, ``state`` and ``iss``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadSignature, SignatureExpired
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bridgehead.auth.cimd import ClientDocumentError
from bridgehead.auth.clients import Client
from bridgehead.auth.service import AuthService
from bridgehead.auth.users import User
from bridgehead.policy.decision import OIDC_SCOPES
from bridgehead.web.pages import PAGE_HEADERS, error_page, render
from bridgehead.web.session import BrowserSession, SessionCodec, csrf_ok

REQUEST_MAX_AGE = 900
CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url SHA-256, unpadded
MAX_STATE = 2048

SCOPE_DESCRIPTIONS = {
    "tools:read": "Search and read company information with read-only tools",
    "tools:write": "Use tools that change data (you confirm each write in your app)",
    "offline_access": "Stay connected without asking you to sign in again",
    "openid": "Know who you are",
    "profile": "See your username and name",
    "email": "See your email address",
}


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request, carried signed through the login and consent pages."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    resource: str
    nonce: str | None
    redirect_uri_given: bool = True
    """False when the request left redirect_uri out (one registered): /token then may too (RFC 6749 §4.1.3)."""
    resource_given: bool = True
    """False when the request named no resource: the token request's ``resource`` (RFC 8707) then decides."""


class PageError(Exception):
    """Shown to the user: the client or redirect URI could not be trusted."""


class RedirectError(Exception):
    """Sent back to the client's redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class ClientRedirect:
    """An error response addressed to the client's (validated) redirect URI."""

    redirect_uri: str
    state: str | None
    error: str
    description: str


def redirect_to_client(
    service: AuthService, request: Request, redirect_uri: str, params: dict[str, str | None]
) -> RedirectResponse:
    """A 302 to the client with the response parameters and ``iss`` (RFC 9207)."""
    values = {k: v for k, v in params.items() if v is not None}
    values["iss"] = service.issuer(request)
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(
        redirect_uri + separator + urlencode(values), status_code=302, headers=PAGE_HEADERS
    )


async def validate_authorization_request(
    service: AuthService, request: Request, params: dict[str, str]
) -> tuple[Client, AuthorizationRequest | ClientRedirect]:
    """Validate the query; PageError before the redirect URI is trusted, RedirectError after."""
    client_id = params.get("client_id")
    if not client_id:
        raise PageError("The request has no client_id.")
    try:
        client = await service.clients.resolve(client_id)
    except ClientDocumentError as exc:
        # The client cannot be trusted, so neither can its redirect URI: a page, never a redirect.
        raise PageError(
            f"This app identifies itself with a client metadata document Bridgehead cannot use "
            f"(invalid_client): {exc}."
        ) from exc
    if client is None:
        raise PageError("This app is not registered with Bridgehead (unknown client_id). Reconnect the app.")
    if client.revoked:
        raise PageError("This app's registration has been revoked by an administrator.")
    redirect_uri = params.get("redirect_uri")
    redirect_uri_given = redirect_uri is not None
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            raise PageError("The request has no redirect_uri and the app registered several.")
        redirect_uri = client.redirect_uris[0]
    elif redirect_uri not in client.redirect_uris:
        raise PageError("The redirect_uri does not exactly match any the app registered.")
    state = params.get("state")
    try:
        if state is not None and len(state) > MAX_STATE:
            state = None
            raise RedirectError("invalid_request", "state is too long")
        if params.get("response_type") != "code":
            raise RedirectError("unsupported_response_type", "only response_type=code is supported")
        if "authorization_code" not in client.grant_types:
            raise RedirectError(
                "unauthorized_client", "this client is not registered for the authorization_code grant"
            )
        challenge = params.get("code_challenge")
        if not challenge:
            raise RedirectError(
                "invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"
            )
        if params.get("code_challenge_method", "plain") != "S256":
            raise RedirectError("invalid_request", "code_challenge_method must be S256")
        if not CODE_CHALLENGE.match(challenge):
            raise RedirectError(
                "invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)"
            )
        asked = params.get("resource")
        resource = service.match_resource(request, asked) if asked else service.resource(request)
        if resource is None:
            raise RedirectError(
                "invalid_target", f"unknown resource {asked!r}; use {service.resource(request)}"
            )
        scope = resolve_scope(service, client, params.get("scope"))
        nonce = params.get("nonce")
        if nonce is not None and len(nonce) > 255:
            raise RedirectError("invalid_request", "nonce is too long")
    except RedirectError as exc:
        return client, ClientRedirect(redirect_uri, state, exc.error, exc.description)
    return client, AuthorizationRequest(
        client.client_id,
        redirect_uri,
        scope,
        state,
        challenge,
        resource,
        nonce,
        redirect_uri_given=redirect_uri_given,
        resource_given=bool(asked),
    )


def resolve_scope(service: AuthService, client: Client, requested: str | None) -> str:
    """The scope to ask consent for: the request's, or the defaults when it asks for none.

    No scope (ChatGPT sends none on Disconnect → Connect) is never an error: it means the
    client's registered scope, else ``auth.default_scopes``, as far as they are offered.
    """
    supported = set(service.supported_scopes)
    if requested is None or not requested.strip():
        # A registered scope is the client's default, not a ceiling: clients such as the MCP SDK
        # register with the scope of their first challenge and must still be able to step up.
        defaults = client.scope.split() if client.scope else service.auth.default_scopes
        return " ".join(dict.fromkeys(s for s in defaults if s in supported))
    scopes = requested.split()
    unknown = [s for s in scopes if s not in supported]
    if unknown:
        raise RedirectError("invalid_scope", f"unknown scope {' '.join(unknown)}")
    return " ".join(dict.fromkeys(scopes))


def pack_request(sessions: SessionCodec, request_data: AuthorizationRequest) -> str:
    """The pending request as a signed token for the login and consent forms."""
    return str(sessions.signer("bridgehead.authorize").dumps(asdict(request_data)))


def unpack_request(sessions: SessionCodec, token: object) -> AuthorizationRequest:
    """The pending request from its signed token; PageError when missing, forged or expired."""
    if not isinstance(token, str):
        raise PageError("The sign-in form is missing its request. Start connecting again from your app.")
    try:
        data = sessions.signer("bridgehead.authorize").loads(token, max_age=REQUEST_MAX_AGE)
        return AuthorizationRequest(**data)
    except SignatureExpired as exc:
        raise PageError("This sign-in page has expired. Start connecting again from your app.") from exc
    except (BadSignature, TypeError) as exc:
        raise PageError("The sign-in request is not valid. Start connecting again from your app.") from exc


async def consent_page(
    service: AuthService,
    sessions: SessionCodec,
    session: BrowserSession,
    pending: AuthorizationRequest,
    user: User,
) -> Response:
    """The consent page for a signed-in user; every way of signing in ends here."""
    client = await service.clients.get(pending.client_id)
    if client is None or client.revoked:
        raise PageError("This app's registration is no longer valid. Reconnect the app.")
    granted = granted_scopes(service, pending, user)
    return render(
        "consent.html",
        client_name=client.display_name,
        redirect_host=urlsplit(pending.redirect_uri).netloc or pending.redirect_uri,
        username=user.username,
        scopes=[(s, SCOPE_DESCRIPTIONS.get(s, "Use tools that need this scope")) for s in granted.split()],
        csrf=session.csrf,
        request_token=pack_request(sessions, pending),
    )


def routes(service: AuthService, sessions: SessionCodec) -> list[BaseRoute]:
    def pack(request_data: AuthorizationRequest) -> str:
        return pack_request(sessions, request_data)

    def unpack(token: object) -> AuthorizationRequest:
        return unpack_request(sessions, token)

    def finish(response: Response, request: Request, session: BrowserSession) -> Response:
        sessions.save(session, request, response)
        return response

    async def current_user(session: BrowserSession) -> User | None:
        if session.user_id is None:
            return None
        user = await service.users.get(session.user_id)
        return user if user is not None and not user.disabled else None

    def login_page(
        request: Request, session: BrowserSession, token: str, client_name: str, **extra: Any
    ) -> Response:
        federation = service.auth.federation
        return render(
            "login.html",
            status=extra.pop("status", 200),
            client_name=client_name,
            csrf=session.csrf,
            request_token=token,
            local_login=service.auth.local_login,
            federation_name=federation.display_name if federation else None,
            **extra,
        )

    async def authorize(request: Request) -> Response:
        session = sessions.load(request)
        params = {k: v for k, v in request.query_params.items()}
        duplicated = [k for k in set(request.query_params.keys()) if len(request.query_params.getlist(k)) > 1]
        try:
            if duplicated:
                raise PageError(f"Parameters must not repeat: {', '.join(sorted(duplicated))}.")
            client, outcome = await validate_authorization_request(service, request, params)
        except PageError as exc:
            return finish(error_page("Cannot connect this app", str(exc)), request, session)
        if isinstance(outcome, ClientRedirect):
            params_back = {
                "error": outcome.error,
                "error_description": outcome.description,
                "state": outcome.state,
            }
            response: Response = redirect_to_client(service, request, outcome.redirect_uri, params_back)
            return finish(response, request, session)
        user = await current_user(session)
        if user is None:
            return finish(login_page(request, session, pack(outcome), client.display_name), request, session)
        return finish(await consent_page(service, sessions, session, outcome, user), request, session)

    async def login(request: Request) -> Response:
        session = sessions.load(request)
        form = await page_form(request)
        if form is None:
            return finish(error_page("Cannot sign in", "The form could not be read."), request, session)
        try:
            pending = unpack(form.get("request"))
        except PageError as exc:
            return finish(error_page("Cannot sign in", str(exc)), request, session)
        client = await service.clients.get(pending.client_id)
        client_name = client.display_name if client else pending.client_id
        token = str(form.get("request"))
        if not csrf_ok(session, form.get("csrf")):
            return finish(
                login_page(
                    request, session, token, client_name, error="Your session expired; try again.", status=400
                ),
                request,
                session,
            )
        if not service.auth.local_login:
            return finish(error_page("Cannot sign in", "Password sign-in is turned off."), request, session)
        username = str(form.get("username", ""))[:255]
        password = str(form.get("password", ""))[:1024]
        address = request.client.host if request.client else "unknown"
        keys = (f"user:{username.lower()}", f"addr:{address}")
        if any([await service.login_limiter.blocked(k) for k in keys]):
            wait = max([await service.login_limiter.retry_after(k) for k in keys])
            response = login_page(
                request, session, token, client_name, username=username, status=429,
                error=f"Too many sign-in attempts. Try again in {wait} seconds.",
            )  # fmt: skip
            response.headers["Retry-After"] = str(wait)
            return finish(response, request, session)
        user = await service.users.authenticate(username, password)
        if user is None:
            for key in keys:
                await service.login_limiter.hit(key)
            return finish(
                login_page(
                    request,
                    session,
                    token,
                    client_name,
                    username=username,
                    status=401,
                    error="Wrong username or password, or the account is disabled.",
                ),
                request,
                session,
            )
        await service.login_limiter.reset(keys[0])
        sessions.sign_in(session, user.id)
        return finish(await consent_page(service, sessions, session, pending, user), request, session)

    async def consent(request: Request) -> Response:
        session = sessions.load(request)
        form = await page_form(request)
        if form is None:
            return finish(
                error_page("Cannot connect this app", "The form could not be read."), request, session
            )
        try:
            pending = unpack(form.get("request"))
            if not csrf_ok(session, form.get("csrf")):
                raise PageError("Your session expired or this form was not sent by Bridgehead. Try again.")
            user = await current_user(session)
            if user is None:
                raise PageError("You are not signed in anymore. Start connecting again from your app.")
            client = await service.clients.get(pending.client_id)
            if client is None or client.revoked or pending.redirect_uri not in client.redirect_uris:
                raise PageError("This app's registration is no longer valid. Reconnect the app.")
        except PageError as exc:
            return finish(error_page("Cannot connect this app", str(exc)), request, session)
        if form.get("decision") != "allow":
            params = {
                "error": "access_denied",
                "error_description": "the user denied access",
                "state": pending.state,
            }
            return finish(
                redirect_to_client(service, request, pending.redirect_uri, params), request, session
            )
        scope = granted_scopes(service, pending, user)
        code = await service.grants.issue_code(
            client_id=pending.client_id,
            user_id=user.id,
            # An empty redirect_uri on the code means "not given", so /token may leave it out too.
            redirect_uri=pending.redirect_uri if pending.redirect_uri_given else "",
            scope=scope,
            # Likewise an empty resource: the token request's resource then binds the audience.
            resource=pending.resource if pending.resource_given else "",
            code_challenge=pending.code_challenge,
            nonce=pending.nonce,
        )
        response = redirect_to_client(
            service, request, pending.redirect_uri, {"code": code, "state": pending.state}
        )
        return finish(response, request, session)

    async def logout(request: Request) -> Response:
        session = sessions.load(request)
        sessions.sign_out(session)
        token = request.query_params.get("request")
        if token:
            try:
                pending = unpack(token)
                client = await service.clients.get(pending.client_id)
                name = client.display_name if client else pending.client_id
                return finish(login_page(request, session, token, name), request, session)
            except PageError:
                pass
        return finish(
            render("error.html", title="Signed out", message="You are signed out of Bridgehead."),
            request,
            session,
        )

    return [
        Route("/authorize", authorize, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/consent", consent, methods=["POST"]),
        Route("/logout", logout, methods=["GET", "POST"]),
    ]


async def page_form(request: Request) -> FormData | None:
    """A page's form fields, or None when the body is not a form we accept (a page says so, never a 500)."""
    try:
        return await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
    except (HTTPException, MultiPartException, ValueError):
        return None


def granted_scopes(service: AuthService, pending: AuthorizationRequest, user: User) -> str:
    """What the user's role lets them grant of what was asked (identity scopes are always grantable)."""
    allowed = service.grantable_scopes(user) | set(OIDC_SCOPES)
    return " ".join(s for s in pending.scope.split() if s in allowed)
