"""The third stage of ChatGPT's connection flow: linking the account with OAuth 2.1.

The doctor's client (``client``) goes through the flow as the MCP authorization spec asks, and
by default registers and authenticates as ChatGPT does: a pre-registered client
(``--client-id``), else a client ID metadata document (``--client-metadata-url``) where the
server supports them, else dynamic registration with ChatGPT's redirect URI and
``client_secret_basic`` (or, where that is not offered, what a spec-conformant client would use,
noting the difference). Then the authorization request with PKCE S256, ``state`` and the
``resource`` indicator, completed without a browser when the server needs no sign-in; the
response's ``state``, ``error`` and ``iss`` (RFC 9207); the code exchange and the refresh grant.
``audience`` then checks the tokens' binding to this resource, ``stepup`` answers a later 403
``insufficient_scope`` with this flow's client, and ``linking`` probes what ChatGPT does beyond.

Secrets only go where the metadata says: the code, verifier and client secret to the token
endpoint it names, the access token only to the MCP server itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from mcp.shared.auth_utils import resource_url_from_server_url

from bridgehead.doctor import firewall
from bridgehead.doctor.browser import Browser, SystemBrowser
from bridgehead.doctor.client import (
    GRANT_TYPES,
    AuthorizationOutcome,
    AuthorizationRequest,
    RegisteredClient,
    authorization_request,
    choose_method,
    client_credentials,
    complete_headlessly,
    select_scope,
)
from bridgehead.doctor.discovery import OAUTH_CHECKS
from bridgehead.doctor.probe import (
    CHATGPT_REDIRECT_URI,
    ClientAuth,
    Probe,
    Unreachable,
    describe,
    json_object,
)
from bridgehead.doctor.report import Status, excerpt, shorten

CLIENT_NAME = "ChatGPT (bridgehead doctor)"
SPEC_CLIENT_NAME = "bridgehead doctor"
NEEDS_INTERACTIVE = "needs --interactive"
# Kept importable from here: the flow's mechanics live in ``client``.
__all__ = ["GRANT_TYPES", "RegisteredClient", "check_flow", "client_credentials"]


async def check_flow(probe: Probe) -> None:
    """Every ``oauth.*`` check of the linking flow, in the order ChatGPT goes through them."""
    report = probe.report
    learned = probe.learned
    endpoints = learned.endpoints or {}
    if learned.blocked_by:
        skip_all(probe, f"blocked by {learned.blocked_by}")
        return
    if "authorization_endpoint" not in endpoints or "token_endpoint" not in endpoints:
        skip_all(probe, "blocked by auth.server_metadata")
        return
    client = await obtain_client(probe)
    if client is None:
        report.skip_unrecorded("blocked by oauth.register", stage="oauth")
        return
    learned.client = client
    scope = select_scope(
        (learned.challenge or {}).get("scope"), learned.resource_metadata, learned.server_metadata
    )
    code, authorization = await authorize_first(probe, client, scope)
    if code is None or authorization is None:
        result = report.get("oauth.authorize")
        if result is not None and result.status is Status.SKIP:
            message = (
                f"{NEEDS_INTERACTIVE} (see oauth.authorize)"
                if NEEDS_INTERACTIVE in result.message
                else result.message
            )
        elif result is not None and result.status is Status.PASS:
            message = "blocked by oauth.iss"
        else:
            message = "blocked by oauth.authorize"
        for check_id in ("oauth.token", "oauth.refresh_issued", "oauth.refresh_grant", "oauth.audience"):
            report.record(check_id, Status.SKIP, message)
        return
    tokens = await exchange_code(probe, client, code, authorization)
    if tokens is None:
        for check_id in ("oauth.refresh_issued", "oauth.refresh_grant", "oauth.audience"):
            report.record(check_id, Status.SKIP, "blocked by oauth.token")
        return
    refresh_token = record_refresh_issued(probe, tokens)
    if refresh_token is None:
        report.record("oauth.refresh_grant", Status.SKIP, "blocked by oauth.refresh_issued")
    else:
        await refresh(probe, client, refresh_token)


def skip_all(probe: Probe, message: str) -> None:
    for check_id in OAUTH_CHECKS:
        if check_id != "oauth.differences":
            probe.report.record(check_id, Status.SKIP, message)


def redirect_uri(probe: Probe) -> str:
    """ChatGPT's redirect URI, or the loopback listener's when a browser (or the spec profile) needs one."""
    return probe.catcher.redirect_uri if probe.catcher is not None else CHATGPT_REDIRECT_URI


def resource_indicator(probe: Probe) -> str:
    """The RFC 8707 resource: the metadata's resource, else the MCP URL."""
    resource = (probe.learned.resource_metadata or {}).get("resource")
    return str(resource) if resource else resource_url_from_server_url(probe.url)


# -- which client: pre-registered, metadata document, or registered (RFC 7591) --------------------


async def obtain_client(probe: Probe) -> RegisteredClient | None:
    """The client to authorize as, in the spec's order of preference; ``oauth.register`` says which."""
    options = probe.options
    metadata = probe.learned.server_metadata or {}
    supported = metadata.get("token_endpoint_auth_methods_supported")
    if options.client_id:
        method = (
            options.client_auth.method
            if options.client_auth is not ClientAuth.AUTO
            else choose_method("client_secret_basic" if options.client_secret else "none", supported)
        )
        probe.report.record(
            "oauth.register",
            Status.NA,
            f"pre-registered client {shorten(options.client_id, 40)} (--client-id, {method}): no registration",
        )
        return RegisteredClient(
            options.client_id, options.client_secret, method, redirect_uri(probe), "pre-registered"
        )
    if options.client_metadata_url and metadata.get("client_id_metadata_document_supported") is True:
        probe.report.record(
            "oauth.register",
            Status.NA,
            f"client ID metadata document {options.client_metadata_url} is the client_id: no registration",
        )
        return RegisteredClient(
            options.client_metadata_url, None, "none", redirect_uri(probe), "metadata document"
        )
    endpoint = (probe.learned.endpoints or {}).get("registration_endpoint")
    if not endpoint:
        skip_all(
            probe,
            "no registration endpoint: give a pre-registered client with --client-id and --client-secret"
            + (
                " (or --client-metadata-url)" if metadata.get("client_id_metadata_document_supported") else ""
            ),
        )
        return None
    if options.client_auth is ClientAuth.AUTO:
        method = choose_method("client_secret_basic", supported)
    else:
        method = options.client_auth.method
        if supported is not None and method not in supported:
            skip_all(
                probe, f"the authorization server does not support {method}: see auth.token_auth_methods"
            )
            return None
    return await register(probe, str(endpoint), method)


async def register(probe: Probe, endpoint: str, method: str) -> RegisteredClient | None:
    """``oauth.register``: register as ChatGPT does (or as a spec client would) and check the answer."""
    uri = redirect_uri(probe)
    body = {
        "client_name": CLIENT_NAME if probe.chatgpt else SPEC_CLIENT_NAME,
        "redirect_uris": [uri],
        "grant_types": GRANT_TYPES,
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    }
    evidence = [f"registration request: {excerpt(body)}"]
    if uri != CHATGPT_REDIRECT_URI:
        evidence.append("(a loopback redirect URI, RFC 8252 §7.3, is registered instead of ChatGPT's)")
    if probe.chatgpt and method != "client_secret_basic":
        evidence.append(
            f"(registered with {method}, as a spec-conformant client would: the server does not offer ChatGPT's "
            "client_secret_basic, see auth.token_auth_methods)"
        )
    try:
        response = await probe.send("POST", probe.reachable_url(endpoint), json_body=body)
    except Unreachable as exc:
        probe.report.record("oauth.register", Status.FAIL, f"no answer: {exc}", evidence=evidence)
        return None
    evidence.append(describe(response))
    refusal = await firewall.compare(probe, response, "POST registration")
    document = json_object(response)
    if document is not None:
        evidence.append(excerpt(document))
    elif response.content:
        evidence.append(shorten(response.text, 200))
    problem, hint, fatal = registration_problem(response, document, body)
    if refusal is not None and refusal.browser_accepted:
        hint = "A bot rule refuses automated clients here: see auth.automated_clients."
    if problem and uri != CHATGPT_REDIRECT_URI and probe.chatgpt:
        hint = (
            f"{hint} (With --interactive the doctor registers a loopback redirect URI, RFC 8252 §7.3; run "
            "without --interactive to check ChatGPT's own registration.)"
        )
    if problem:
        probe.report.record("oauth.register", Status.FAIL, problem, evidence=evidence, hint=hint)
        if fatal:
            return None
    assert document is not None
    # Authenticate exactly as registered, whatever was asked for.
    registered = str(document.get("token_endpoint_auth_method") or method)
    secret = document.get("client_secret")
    client = RegisteredClient(
        str(document["client_id"]), str(secret) if isinstance(secret, str) else None, registered, uri
    )
    if problem:
        return client
    expires = document.get("client_secret_expires_at")
    if client.client_secret and isinstance(expires, int) and expires > 0:
        probe.report.record(
            "oauth.register",
            Status.WARN,
            f"registered client {shorten(client.client_id, 40)} ({registered}), but its secret expires at "
            f"{expires} (Unix time): ChatGPT's connection stops working then, with nothing to renew it",
            evidence=evidence,
            hint="Return client_secret_expires_at: 0 (never) for ChatGPT's client, or let an administrator "
            "revoke clients instead: ChatGPT registers once and does not re-register when the secret expires.",
        )
        return client
    probe.report.record(
        "oauth.register",
        Status.PASS,
        f"registered client {shorten(client.client_id, 40)} ({registered})",
        evidence=evidence,
    )
    return client


def registration_problem(
    response: httpx.Response, document: dict[str, Any] | None, asked: dict[str, Any]
) -> tuple[str | None, str | None, bool]:
    """(what is wrong with a registration response, how to fix it, whether the flow cannot go on);
    (None, None, False) when nothing is."""
    if not response.is_success:
        error = (document or {}).get("error_description") or (document or {}).get("error") or ""
        return (
            f"registration refused (HTTP {response.status_code}{': ' + str(error) if error else ''})",
            "Accept RFC 7591 registrations with ChatGPT's metadata: redirect_uris "
            f"[{CHATGPT_REDIRECT_URI}], grant_types authorization_code and refresh_token, "
            "token_endpoint_auth_method client_secret_basic.",
            True,
        )
    if document is None or not isinstance(document.get("client_id"), str) or not document["client_id"]:
        return (
            "the registration response has no client_id",
            "Return the registered client_id (RFC 7591 §3.2.1).",
            True,
        )
    method = asked["token_endpoint_auth_method"]
    registered = document.get("token_endpoint_auth_method", method)
    if registered != "none" and not document.get("client_secret"):
        return (
            f"no client_secret returned for a {registered} client",
            "Return a client_secret for confidential clients (RFC 7591 §3.2.1).",
            True,
        )
    uris = document.get("redirect_uris")
    if isinstance(uris, list) and asked["redirect_uris"][0] not in uris:
        return (
            "the registered redirect_uris do not include the requested one",
            f"Register the redirect URI exactly as sent ({asked['redirect_uris'][0]}).",
            True,
        )
    if registered != method:
        return (
            f"asked for {method}, but the client was registered for {registered} (the doctor goes on with "
            f"{registered}, as registered)",
            "Honour the requested token_endpoint_auth_method; ChatGPT authenticates with client_secret_basic "
            "and fails when the server expects another method.",
            False,
        )
    return None, None, False


# -- authorization request (RFC 6749 §4.1, PKCE RFC 7636, resource indicators RFC 8707) ----------


@dataclass
class Authorization:
    """One authorization request and how it came back (``params`` None: it did not)."""

    request: AuthorizationRequest
    outcome: AuthorizationOutcome
    params: dict[str, str] | None
    browser: str | None = None
    """Why the browser did not bring an answer back, when one was asked."""


async def authorize(
    probe: Probe, client: RegisteredClient, scope: str | None, *, browser: bool = True, **extra: str
) -> Authorization:
    """Send an authorization request; without a person when the server needs none, else (with
    --interactive and ``browser``) through the browser."""
    endpoint = probe.reachable_url((probe.learned.endpoints or {})["authorization_endpoint"])
    request = authorization_request(endpoint, client, scope, resource_indicator(probe), **extra)
    outcome = await complete_headlessly(probe, request)
    authorization = Authorization(request, outcome, outcome.params if outcome.kind == "answer" else None)
    catcher = probe.catcher
    if (
        outcome.kind == "sign_in"
        and browser
        and probe.options.interactive
        and catcher is not None
        and client.redirect_uri == catcher.redirect_uri
    ):
        person: Browser = probe.options.browser or SystemBrowser(
            lambda link: print(f"Sign in to continue: {link}", file=sys.stderr)
        )
        outcome.evidence.append(f"opened the browser; waiting for {catcher.redirect_uri}")
        catcher.expect()
        await person.open(request.url)
        try:
            with anyio.fail_after(probe.options.login_timeout):
                authorization.params = await catcher.wait()
        except TimeoutError:
            authorization.browser = (
                f"no authorization response within {probe.options.login_timeout:.0f}s (sign-in not completed)"
            )
    return authorization


async def authorize_first(
    probe: Probe, client: RegisteredClient, scope: str | None
) -> tuple[str | None, Authorization | None]:
    """``oauth.authorize`` and ``oauth.iss``: the code of the first authorization, or None."""
    probe.learned.requested_scope = scope
    authorization = await authorize(probe, client, scope)
    outcome, params = authorization.outcome, authorization.params
    probe.learned.authorization_kind = outcome.kind
    evidence = [f"scope: {scope or '(none requested)'}; resource: {authorization.request.resource}"]
    evidence += outcome.evidence
    report = probe.report
    if params is None:
        if outcome.kind == "sign_in":
            message = authorization.browser or (
                f"{NEEDS_INTERACTIVE}: the authorization endpoint shows a sign-in page"
                if len(outcome.evidence) <= 1
                else f"{NEEDS_INTERACTIVE}: the authorization endpoint redirects to a sign-in page"
            )
            report.record("oauth.authorize", Status.SKIP, message, evidence=evidence)
            report.record("oauth.iss", Status.SKIP, message if authorization.browser else NEEDS_INTERACTIVE)
            return None, None
        if outcome.kind == "refused" and client.kind == "metadata document":
            report.record(
                "oauth.cimd",
                Status.FAIL,
                f"the server advertises client ID metadata documents, but refused the authorization request "
                f"of the client {client.client_id} ({outcome.detail})",
                evidence=evidence,
                hint="Fetch the document at the client_id URL (HTTPS, with a timeout and size cap), check that its "
                "client_id is that URL and that the redirect_uri is one of its redirect_uris, then go on as for "
                "a registered public client (token_endpoint_auth_method none, PKCE).",
            )
            report.record("oauth.authorize", Status.SKIP, "blocked by oauth.cimd", evidence=evidence)
            report.record("oauth.iss", Status.SKIP, "blocked by oauth.cimd")
            return None, None
        report.record(
            "oauth.authorize",
            Status.FAIL,
            outcome_message(outcome),
            evidence=evidence,
            hint=outcome_hint(outcome),
        )
        report.record("oauth.iss", Status.SKIP, "blocked by oauth.authorize")
        return None, None
    evidence.append(f"authorization response: {excerpt(params)}")
    probe.learned.authorization_error = params.get("error")
    problem = answer_problem(params, authorization.request)
    iss_ok = record_iss(probe, params, evidence)
    if problem:
        report.record(
            "oauth.authorize",
            Status.FAIL,
            problem,
            evidence=evidence,
            hint="Redirect back with code and the request's state (and iss, RFC 9207); ChatGPT discards "
            "anything else. An error means the request itself was refused: see its description.",
        )
        return None, None
    report.record(
        "oauth.authorize",
        Status.PASS,
        "authorization code received" + ("; state matches" if iss_ok else "; state matches, see oauth.iss"),
        evidence=evidence,
    )
    return (params["code"], authorization) if iss_ok else (None, None)


def outcome_message(outcome: AuthorizationOutcome) -> str:
    """What went wrong when an authorization request did not come back, for a check's message."""
    if outcome.kind == "unreachable":
        return f"no answer: {outcome.detail}"
    if outcome.kind == "unsafe":
        return f"the authorization flow {outcome.detail}; the doctor does not follow it"
    return f"the authorization request was refused ({outcome.detail})"


def outcome_hint(outcome: AuthorizationOutcome) -> str:
    if outcome.kind == "unsafe":
        return (
            "Redirect only over HTTPS during sign-in, and back only to the redirect URI the client registered "
            "(exact match): anything else leaks the code or the user's session."
        )
    return (
        "Accept ChatGPT's request: response_type=code, its redirect URI, PKCE S256, state and a resource "
        "parameter naming the MCP server (RFC 8707)."
    )


def answer_problem(params: dict[str, str], request: AuthorizationRequest) -> str | None:
    """Why an authorization response must be discarded: an error, no or another state, no code."""
    if "error" in params:
        description = params.get("error_description", "")
        text = f"the authorization server answered error={params['error']}" + (
            f": {description}" if description else ""
        )
        if params.get("state") != request.state:
            text += " (and the redirect does not carry the request's state)"
        return text
    if "state" not in params:
        return "the redirect back carries no state: the client cannot tie it to its request (CSRF defence)"
    if params["state"] != request.state:
        return (
            f"the redirect back carries another state ({shorten(params['state'], 40)!r}) than the request's "
            f"({shorten(request.state, 40)!r})"
        )
    if not params.get("code"):
        return "the redirect back carries no code"
    return None


def record_iss(probe: Probe, params: dict[str, str], evidence: list[str]) -> bool:
    """``oauth.iss``: the response names the issuer byte for byte (RFC 9207); False when the client
    must discard the response."""
    metadata = probe.learned.server_metadata or {}
    advertised = metadata.get("authorization_response_iss_parameter_supported") is True
    issuer = probe.learned.issuer
    iss = params.get("iss")
    lines = [
        f"metadata issuer: {issuer!r}; authorization_response_iss_parameter_supported: {advertised}",
        f"iss in the response: {iss!r}",
    ]
    hint = (
        "Put iss, exactly the metadata's issuer (no trailing-slash difference), on every redirect back to the "
        "client, success and error alike, and advertise authorization_response_iss_parameter_supported: true "
        "(RFC 9207): clients use it to tell authorization servers apart (mix-up attacks)."
    )
    report = probe.report
    if iss is not None and issuer is not None and iss != issuer:
        report.record(
            "oauth.iss",
            Status.FAIL,
            f"iss {iss!r} is not the issuer {issuer!r}: the client must discard the response (RFC 9207 §2.4)",
            evidence=lines,
            hint=hint,
        )
        return False
    if iss is None and advertised:
        report.record(
            "oauth.iss",
            Status.FAIL,
            "no iss although the server advertises authorization_response_iss_parameter_supported: the client "
            "must discard the response (RFC 9207 §2.4)",
            evidence=lines,
            hint=hint,
        )
        return False
    if iss is None:
        report.record(
            "oauth.iss",
            Status.WARN,
            "the response names no issuer (RFC 9207): clients cannot tell which authorization server answered",
            evidence=lines,
            hint=hint,
        )
        return True
    if issuer is None:
        report.record(
            "oauth.iss", Status.PASS, f"iss {iss!r} (no metadata issuer to compare with)", evidence=lines
        )
        return True
    if not advertised:
        report.record(
            "oauth.iss",
            Status.WARN,
            "iss matches the issuer, but authorization_response_iss_parameter_supported is not advertised",
            evidence=lines,
            hint=hint,
        )
        return True
    report.record("oauth.iss", Status.PASS, "iss is the issuer, byte for byte", evidence=lines)
    return True


# -- token endpoint ---------------------------------------------------------------------------


async def token_request(
    probe: Probe, client: RegisteredClient, form: dict[str, str]
) -> tuple[httpx.Response | None, list[str], str | None]:
    """POST to the token endpoint the metadata names: (response, evidence, error)."""
    endpoint = probe.reachable_url((probe.learned.endpoints or {})["token_endpoint"])
    headers, fields = client_credentials(client)
    headers["accept"] = "application/json"
    try:
        response = await probe.send("POST", endpoint, headers=headers, data={**fields, **form})
    except Unreachable as exc:
        return None, [f"POST {endpoint} → {exc}"], str(exc)
    evidence = [describe(response)]
    document = json_object(response)
    evidence.append(excerpt(document) if document is not None else shorten(response.text, 200))
    return response, evidence, None


def code_form(client: RegisteredClient, code: str, authorization: Authorization) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": authorization.request.verifier,
        "resource": authorization.request.resource,
    }


async def exchange_code(
    probe: Probe, client: RegisteredClient, code: str, authorization: Authorization
) -> dict[str, Any] | None:
    """``oauth.token``: the authorization code grant."""
    response, evidence, error = await token_request(probe, client, code_form(client, code, authorization))
    tokens, problem, hint = token_problem(response, error, client)
    if tokens is None:
        probe.report.record("oauth.token", Status.FAIL, problem or "no tokens", evidence=evidence, hint=hint)
        return None
    keep_tokens(probe, tokens, authorization.request.scope)
    expires = tokens.get("expires_in")
    if expires is None:
        probe.report.record(
            "oauth.token",
            Status.WARN,
            "access token issued, without expires_in",
            evidence=evidence,
            hint="Return expires_in so clients refresh before the token expires instead of after a failure.",
        )
    else:
        probe.report.record(
            "oauth.token",
            Status.PASS,
            f"access token issued (expires_in {expires}s, scope {tokens.get('scope', '(not given)')})",
            evidence=evidence,
        )
    return tokens


def keep_tokens(probe: Probe, tokens: dict[str, Any], requested: str | None) -> None:
    learned = probe.learned
    learned.access_token = str(tokens["access_token"])
    granted = tokens.get("scope")
    learned.granted_scope = str(granted) if isinstance(granted, str) else requested
    refresh_token = tokens.get("refresh_token")
    if isinstance(refresh_token, str) and refresh_token:
        learned.refresh_token = refresh_token


def token_problem(
    response: httpx.Response | None, error: str | None, client: RegisteredClient
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(tokens, None, None) for a valid token response, else (None, what is wrong, a fix)."""
    if response is None:
        return None, f"no answer: {error}", None
    document = json_object(response) or {}
    if not response.is_success or not isinstance(document.get("access_token"), str):
        error_code = document.get("error", f"HTTP {response.status_code}")
        description = document.get("error_description", "")
        hint = None
        if error_code == "invalid_client":
            hint = (
                f"The token endpoint did not accept {client.method}. ChatGPT authenticates with "
                "client_secret_basic: HTTP Basic with the form-urlencoded client_id and client_secret."
            )
        return (
            None,
            f"the token endpoint answered {error_code}" + (f": {description}" if description else ""),
            hint,
        )
    if str(document.get("token_type", "")).lower() != "bearer":
        return (
            None,
            f"token_type is {document.get('token_type')!r}, not Bearer",
            "Issue Bearer access tokens (RFC 6750); MCP clients send them in the Authorization header.",
        )
    return document, None, None


def record_refresh_issued(probe: Probe, tokens: dict[str, Any]) -> str | None:
    """``oauth.refresh_issued``: no refresh token means ChatGPT re-authenticates at every expiry."""
    refresh_token = tokens.get("refresh_token")
    if isinstance(refresh_token, str) and refresh_token:
        probe.report.record("oauth.refresh_issued", Status.PASS, "a refresh token was issued")
        return refresh_token
    scope = str(tokens.get("scope", ""))
    probe.report.record(
        "oauth.refresh_issued",
        Status.FAIL,
        "no refresh token was issued: ChatGPT must send users through sign-in again whenever the access "
        "token expires (the re-authentication loop)",
        evidence=[f"token response keys: {sorted(tokens)}", f"granted scope: {scope or '(not given)'}"],
        hint="Issue refresh tokens for the authorization code grant (typically when offline_access is "
        "granted; enable it in the provider's settings), then recreate the ChatGPT app.",
    )
    return None


async def refresh(probe: Probe, client: RegisteredClient, refresh_token: str) -> None:
    """``oauth.refresh_grant``: the refresh token buys a new access token."""
    response, evidence, error = await token_request(
        probe,
        client,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "resource": resource_indicator(probe),
        },
    )
    tokens, problem, hint = token_problem(response, error, client)
    if tokens is None:
        probe.report.record(
            "oauth.refresh_grant", Status.FAIL, problem or "no tokens", evidence=evidence, hint=hint
        )
        return
    keep_tokens(probe, tokens, probe.learned.granted_scope)
    rotated = tokens.get("refresh_token")
    note = "rotated" if rotated and rotated != refresh_token else "kept"
    probe.report.record(
        "oauth.refresh_grant",
        Status.PASS,
        f"a new access token was issued; the refresh token was {note}",
        evidence=evidence,
    )
