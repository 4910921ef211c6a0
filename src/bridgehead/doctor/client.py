"""The doctor's OAuth client: the mechanics of a conformant MCP authorization client.

What it sends and how it reads the answers, without judging the server (``oauth`` does that):
the client it authenticates as (registered, pre-registered or a client ID metadata document),
the scope it asks for (the MCP spec's selection strategy, ``offline_access`` only when the
authorization server offers it), PKCE S256, the authorization request with its ``resource``
indicator, the headless completion of that request, and client authentication at the token
endpoint exactly as registered.

Two rules keep secrets where they belong: a redirect is only followed to HTTPS (or loopback)
and never onto the client's own redirect URI origin (the code stays with the doctor), and every
secret goes to the endpoint the metadata names.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import httpx
from mcp.client.auth.utils import union_scopes

from bridgehead.doctor.probe import Probe, Unreachable, describe, is_loopback
from bridgehead.doctor.report import shorten

MAX_HOPS = 10
GRANT_TYPES = ["authorization_code", "refresh_token"]
OFFLINE_ACCESS = "offline_access"
ClientKind = Literal["dynamic", "pre-registered", "metadata document"]


@dataclass
class RegisteredClient:
    """The client the doctor authenticates as."""

    client_id: str
    client_secret: str | None
    method: str
    """How it authenticates at the token endpoint: client_secret_basic, client_secret_post or none."""
    redirect_uri: str
    kind: ClientKind = "dynamic"


# -- scope selection (MCP authorization spec, "Scope selection strategy"; SEP-2207) ---------------


def select_scope(
    challenge_scope: str | None,
    resource_metadata: dict[str, Any] | None,
    server_metadata: dict[str, Any] | None,
) -> str | None:
    """The scope to ask for: the challenge's, else every scope the Protected Resource Metadata
    lists, else none (the parameter is omitted); ``offline_access`` added only when the
    authorization server lists it, and removed when it lists scopes without it."""
    scope: str | None = None
    if challenge_scope is not None:
        scope = challenge_scope
    elif resource_metadata is not None and isinstance(resource_metadata.get("scopes_supported"), list):
        scope = " ".join(str(s) for s in resource_metadata["scopes_supported"])
    return with_offline_access(scope, server_metadata)


def with_offline_access(scope: str | None, server_metadata: dict[str, Any] | None) -> str | None:
    """``scope`` with offline_access exactly when the authorization server advertises it."""
    if scope is None:
        return None
    offered = (server_metadata or {}).get("scopes_supported")
    words = scope.split()
    if isinstance(offered, list):
        if OFFLINE_ACCESS in offered and OFFLINE_ACCESS not in words:
            words.append(OFFLINE_ACCESS)
        elif OFFLINE_ACCESS not in offered:
            words = [w for w in words if w != OFFLINE_ACCESS]
    return " ".join(words) or None


def step_up_scope(previous: str | None, challenge_scope: str, server_metadata: dict[str, Any] | None) -> str:
    """What a step-up asks for: what was asked before plus what the challenge names (SEP-2350)."""
    return with_offline_access(union_scopes(previous, challenge_scope), server_metadata) or challenge_scope


# -- client authentication at the token endpoint (RFC 6749 §2.3.1) -------------------------------


def choose_method(asked: str, supported: list[str] | None) -> str:
    """The token endpoint method to register with: ``asked`` when the server supports it (a
    missing list means client_secret_basic, RFC 8414), else the first the server offers that
    the doctor can use."""
    offered = supported if supported is not None else ["client_secret_basic"]
    if asked in offered:
        return asked
    usable = [m for m in ("client_secret_basic", "client_secret_post", "none") if m in offered]
    return usable[0] if usable else asked


def client_credentials(client: RegisteredClient) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate the client as it registered (RFC 6749 §2.3.1)."""
    if client.method == "client_secret_basic":
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret or '', safe='')}"
        return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}
    if client.method == "client_secret_post":
        return {}, {"client_id": client.client_id, "client_secret": client.client_secret or ""}
    return {}, {"client_id": client.client_id}


# -- PKCE (RFC 7636) -------------------------------------------------------------------------------


def new_verifier() -> str:
    """A code verifier: 86 characters of base64url, within RFC 7636's 43-128."""
    return secrets.token_urlsafe(64)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


# -- the authorization request and its headless completion ----------------------------------------


@dataclass
class AuthorizationRequest:
    """One authorization request the doctor made, with what it needs to check the answer."""

    url: str
    state: str
    verifier: str
    scope: str | None
    resource: str
    redirect_uri: str


def authorization_request(
    endpoint: str, client: RegisteredClient, scope: str | None, resource: str, **extra: str
) -> AuthorizationRequest:
    """Build an authorization request (code flow, PKCE S256, state, resource indicator)."""
    state, verifier = secrets.token_urlsafe(24), new_verifier()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "resource": resource,
    }
    if scope is not None:
        params["scope"] = scope
    params.update(extra)
    separator = "&" if urlsplit(endpoint).query else "?"
    return AuthorizationRequest(
        endpoint + separator + urlencode(params), state, verifier, scope, resource, client.redirect_uri
    )


Outcome = Literal["answer", "sign_in", "refused", "unsafe", "unreachable"]


@dataclass
class AuthorizationOutcome:
    """How an authorization request ended without a browser."""

    kind: Outcome
    """answer: redirected back to the redirect URI (``params``); sign_in: a page wants a person;
    refused: an error page or status; unsafe: a redirect the doctor will not follow; unreachable."""
    params: dict[str, str] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    detail: str = ""
    response: httpx.Response | None = None


def is_redirect_uri(location: str, redirect_uri: str) -> bool:
    """Whether ``location`` is the redirect URI (same scheme, host, port and path) plus parameters."""
    a, b = urlsplit(location), urlsplit(redirect_uri)
    return (a.scheme, (a.hostname or "").lower(), effective_port(a), a.path) == (
        b.scheme,
        (b.hostname or "").lower(),
        effective_port(b),
        b.path,
    )


def effective_port(parts: Any) -> int | None:
    return int(parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)) or None


def same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, (x.hostname or "").lower(), effective_port(x)) == (
        y.scheme,
        (y.hostname or "").lower(),
        effective_port(y),
    )


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() + ("?…" if parts.query else "")


async def complete_headlessly(probe: Probe, request: AuthorizationRequest) -> AuthorizationOutcome:
    """Follow the authorization request as a browser would, without a person: through redirects
    (an SSO hop, an already signed-in session, an auto-approving server) until it comes back to the
    redirect URI, which is read, never visited. A page that needs a person ends it as ``sign_in``."""
    outcome = AuthorizationOutcome("refused")
    target = request.url
    for _ in range(MAX_HOPS):
        try:
            response = await probe.send("GET", target)
        except Unreachable as exc:
            outcome.kind, outcome.detail = "unreachable", str(exc)
            outcome.evidence.append(f"GET {without_query(target)} → {exc}")
            return outcome
        outcome.response = response
        outcome.evidence.append(describe(response).replace(str(response.request.url), without_query(target)))
        if not response.is_redirect:
            kind = response.headers.get("content-type", "")
            if response.status_code == 200 and "html" in kind:
                outcome.kind, outcome.detail = (
                    "sign_in",
                    f"a page at {without_query(target)} asks for a person",
                )
            else:
                outcome.kind = "refused"
                outcome.detail = f"HTTP {response.status_code}"
                outcome.evidence.append(shorten(response.text, 300))
            return outcome
        location = urljoin(target, response.headers["location"])
        if is_redirect_uri(location, request.redirect_uri):
            outcome.kind = "answer"
            outcome.params = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
            outcome.evidence.append(f"redirected back to {without_query(location)}")
            return outcome
        parts = urlsplit(location)
        if same_origin(location, request.redirect_uri) or (
            parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname))
        ):
            outcome.evidence.append(f"Location: {without_query(location)} (not followed)")
        if same_origin(location, request.redirect_uri):
            outcome.kind = "unsafe"
            outcome.detail = (
                f"redirects to {without_query(location)}: the client's origin, but not its registered "
                f"redirect URI {request.redirect_uri}"
            )
            return outcome
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
            outcome.kind = "unsafe"
            outcome.detail = f"redirects to {without_query(location)}, which is neither HTTPS nor loopback"
            return outcome
        outcome.evidence.append(f"Location: {without_query(location)}")
        target = location
    outcome.kind, outcome.detail = "refused", f"more than {MAX_HOPS} redirects"
    return outcome
