"""The third stage of ChatGPT's connection flow: linking the account with OAuth 2.1.

Dynamic registration as ChatGPT registers (its redirect URI, ``client_secret_basic`` unless
``--client-auth`` says otherwise), the authorization request with PKCE S256 and a resource
indicator, the code exchange, and the refresh-token grant. Without ``--interactive`` the flow
stops politely at a sign-in page; with it, the user signs in in a browser and the redirect is
caught on a loopback port (so a loopback redirect URI is registered instead of ChatGPT's).

Secrets only go where the metadata says: the code, verifier and client secret to the token
endpoint it names, the access token only to the MCP server itself.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import anyio
import httpx
from mcp.client.auth.utils import get_client_metadata_scopes
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from mcp.shared.auth_utils import resource_url_from_server_url

from bridgehead.doctor.browser import Browser, RedirectCatcher, SystemBrowser
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
NEEDS_INTERACTIVE = "needs --interactive"
GRANT_TYPES = ["authorization_code", "refresh_token"]


@dataclass
class RegisteredClient:
    """The client the doctor registered."""

    client_id: str
    client_secret: str | None
    method: str
    redirect_uri: str


async def check_flow(probe: Probe) -> None:
    """Every ``oauth.*`` check, in the order ChatGPT goes through them."""
    report = probe.report
    metadata = probe.learned.server_metadata
    method = probe.options.client_auth.method
    blocked = report.first_failed("auth.server_metadata", "auth.pkce") if metadata is not None else None
    if metadata is None or blocked:
        skip_all(probe, f"blocked by {blocked or 'auth.server_metadata'}")
        return
    supported = metadata.get("token_endpoint_auth_methods_supported")
    if supported is not None and method not in supported:
        hint = (
            " (rerun with --client-auth post to check the rest of the flow)"
            if method == "client_secret_basic"
            else ""
        )
        skip_all(
            probe, f"the authorization server does not support {method}: see auth.token_auth_methods{hint}"
        )
        return
    if not metadata.get("registration_endpoint"):
        skip_all(probe, "no registration endpoint: the doctor can only check dynamically registered clients")
        return
    if probe.options.interactive:
        async with RedirectCatcher() as catcher:
            await run_flow(probe, catcher.redirect_uri, catcher)
    else:
        await run_flow(probe, CHATGPT_REDIRECT_URI, None)
    report.skip_unrecorded("not run", stage="oauth")


def skip_all(probe: Probe, message: str) -> None:
    for check_id in OAUTH_CHECKS:
        probe.report.record(check_id, Status.SKIP, message)


async def run_flow(probe: Probe, redirect_uri: str, catcher: RedirectCatcher | None) -> None:
    client = await register(probe, redirect_uri)
    if client is None:
        probe.report.skip_unrecorded("blocked by oauth.register", stage="oauth")
        return
    verifier = secrets.token_urlsafe(64)
    code = await authorize(probe, client, verifier, catcher)
    if code is None:
        # A sign-in page stops the flow for the same reason at every later step.
        result = probe.report.get("oauth.authorize")
        message = "blocked by oauth.authorize"
        if result is not None and result.status is Status.SKIP:
            message = f"{NEEDS_INTERACTIVE} (see oauth.authorize)"
        probe.report.skip_unrecorded(message, stage="oauth")
        return
    tokens = await exchange_code(probe, client, code, verifier)
    if tokens is None:
        probe.report.skip_unrecorded("blocked by oauth.token", stage="oauth")
        return
    refresh_token = record_refresh_issued(probe, tokens)
    if refresh_token is None:
        probe.report.record("oauth.refresh_grant", Status.SKIP, "blocked by oauth.refresh_issued")
        return
    await refresh(probe, client, refresh_token)


# -- registration (RFC 7591) -----------------------------------------------------------------


async def register(probe: Probe, redirect_uri: str) -> RegisteredClient | None:
    """``oauth.register``: register as ChatGPT does and check what comes back."""
    metadata = probe.learned.server_metadata or {}
    endpoint = str(metadata["registration_endpoint"])
    method = probe.options.client_auth.method
    body = {
        "client_name": CLIENT_NAME,
        "redirect_uris": [redirect_uri],
        "grant_types": GRANT_TYPES,
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    }
    evidence = [f"registration request: {excerpt(body)}"]
    if redirect_uri != CHATGPT_REDIRECT_URI:
        evidence.append("(interactive: a loopback redirect URI is registered instead of ChatGPT's)")
    try:
        response = await probe.send("POST", probe.reachable_url(endpoint), json_body=body)
    except Unreachable as exc:
        probe.report.record("oauth.register", Status.FAIL, f"no answer: {exc}", evidence=evidence)
        return None
    evidence.append(describe(response))
    document = json_object(response)
    if document is not None:
        evidence.append(excerpt(document))
    elif response.content:
        evidence.append(shorten(response.text, 200))
    problem, hint = registration_problem(response, document, body)
    if problem and redirect_uri != CHATGPT_REDIRECT_URI:
        hint = (
            f"{hint} (With --interactive the doctor registers a loopback redirect URI, RFC 8252 §7.3; run "
            "without --interactive to check ChatGPT's own registration.)"
        )
    if problem:
        probe.report.record("oauth.register", Status.FAIL, problem, evidence=evidence, hint=hint)
        return None
    assert document is not None
    client = RegisteredClient(str(document["client_id"]), document.get("client_secret"), method, redirect_uri)
    probe.report.record(
        "oauth.register",
        Status.PASS,
        f"registered client {shorten(client.client_id, 40)} ({method})",
        evidence=evidence,
    )
    return client


def registration_problem(
    response: httpx.Response, document: dict[str, Any] | None, asked: dict[str, Any]
) -> tuple[str | None, str | None]:
    """What is wrong with a registration response, and how to fix it; (None, None) when nothing is."""
    if not response.is_success:
        error = (document or {}).get("error_description") or (document or {}).get("error") or ""
        return (
            f"registration refused (HTTP {response.status_code}{': ' + str(error) if error else ''})",
            "Accept RFC 7591 registrations with ChatGPT's metadata: redirect_uris "
            f"[{CHATGPT_REDIRECT_URI}], grant_types authorization_code and refresh_token, "
            "token_endpoint_auth_method client_secret_basic.",
        )
    if document is None or not isinstance(document.get("client_id"), str) or not document["client_id"]:
        return (
            "the registration response has no client_id",
            "Return the registered client_id (RFC 7591 §3.2.1).",
        )
    method = asked["token_endpoint_auth_method"]
    registered = document.get("token_endpoint_auth_method", method)
    if registered != method:
        return (
            f"asked for {method}, but the client was registered for {registered}",
            "Honour the requested token_endpoint_auth_method; ChatGPT authenticates with client_secret_basic "
            "and fails when the server expects another method.",
        )
    if method != "none" and not document.get("client_secret"):
        return (
            f"no client_secret returned for a {method} client",
            "Return a client_secret for confidential clients (RFC 7591 §3.2.1).",
        )
    uris = document.get("redirect_uris")
    if isinstance(uris, list) and asked["redirect_uris"][0] not in uris:
        return (
            "the registered redirect_uris do not include the requested one",
            f"Register the redirect URI exactly as sent ({asked['redirect_uris'][0]}).",
        )
    return None, None


# -- authorization request (RFC 6749 §4.1, PKCE RFC 7636, resource indicators RFC 8707) ----------


async def authorize(
    probe: Probe, client: RegisteredClient, verifier: str, catcher: RedirectCatcher | None
) -> str | None:
    """``oauth.authorize``: the authorization code, or None (a failure, or a sign-in page without
    --interactive)."""
    metadata = probe.learned.server_metadata or {}
    state = secrets.token_urlsafe(24)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "resource": resource_indicator(probe),
    }
    scope = requested_scope(probe)
    if scope:
        params["scope"] = scope
    endpoint = probe.reachable_url(str(metadata["authorization_endpoint"]))
    separator = "&" if urlsplit(endpoint).query else "?"
    url = endpoint + separator + urlencode(params)
    evidence = [f"scope: {scope or '(none requested)'}; resource: {params['resource']}"]
    if catcher is not None:
        answer = await browser_answer(probe, url, catcher, evidence)
    else:
        answer = await direct_answer(probe, url, client.redirect_uri, evidence)
    if answer is None:
        return None
    return verify_answer(probe, answer, state, evidence)


async def direct_answer(
    probe: Probe, url: str, redirect_uri: str, evidence: list[str]
) -> dict[str, str] | None:
    """GET the authorization URL without a browser: an auto-approving server redirects straight back."""
    try:
        response = await probe.send("GET", url)
    except Unreachable as exc:
        probe.report.record("oauth.authorize", Status.FAIL, f"no answer: {exc}", evidence=evidence)
        return None
    evidence.append(describe(response))
    location = response.headers.get("location", "")
    if response.is_redirect and location.startswith(redirect_uri):
        return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
    if response.is_redirect:
        evidence.append(f"Location: {shorten(location, 200)}")
        probe.report.record(
            "oauth.authorize",
            Status.SKIP,
            f"{NEEDS_INTERACTIVE}: the authorization endpoint redirects to a sign-in page",
            evidence=evidence,
        )
        return None
    kind = response.headers.get("content-type", "")
    if response.status_code == 200 and "html" in kind:
        probe.report.record(
            "oauth.authorize",
            Status.SKIP,
            f"{NEEDS_INTERACTIVE}: the authorization endpoint answers with a sign-in page",
            evidence=evidence,
        )
        return None
    evidence.append(shorten(response.text, 300))
    probe.report.record(
        "oauth.authorize",
        Status.FAIL,
        f"the authorization request was refused (HTTP {response.status_code})",
        evidence=evidence,
        hint="Accept ChatGPT's request: response_type=code, its redirect URI, PKCE S256, state and a resource "
        "parameter naming the MCP server (RFC 8707).",
    )
    return None


async def browser_answer(
    probe: Probe, url: str, catcher: RedirectCatcher, evidence: list[str]
) -> dict[str, str] | None:
    """Send the user to sign in and wait for the redirect on the loopback listener."""
    browser: Browser = probe.options.browser or SystemBrowser(
        lambda link: print(f"Sign in to continue: {link}", file=sys.stderr)
    )
    evidence.append(f"opened the browser; waiting for {catcher.redirect_uri}")
    await browser.open(url)
    try:
        with anyio.fail_after(probe.options.login_timeout):
            return await catcher.wait()
    except TimeoutError:
        probe.report.record(
            "oauth.authorize",
            Status.SKIP,
            f"no authorization response within {probe.options.login_timeout:.0f}s (sign-in not completed)",
            evidence=evidence,
        )
        return None


def verify_answer(probe: Probe, answer: dict[str, str], state: str, evidence: list[str]) -> str | None:
    """Check the authorization response: no error, our state, the right issuer (RFC 9207), a code."""
    metadata = probe.learned.server_metadata or {}
    evidence.append(f"authorization response: {excerpt(answer)}")
    if "error" in answer:
        description = answer.get("error_description", "")
        probe.report.record(
            "oauth.authorize",
            Status.FAIL,
            f"the authorization server answered error={answer['error']}"
            + (f": {description}" if description else ""),
            evidence=evidence,
        )
        return None
    problem = None
    if answer.get("state") != state:
        problem = "the state parameter does not match the request's"
    elif "iss" in answer and answer["iss"] != probe.learned.issuer:
        problem = (
            f"iss {answer['iss']!r} is not the issuer {probe.learned.issuer!r} (RFC 9207 mix-up defence)"
        )
    elif "iss" not in answer and metadata.get("authorization_response_iss_parameter_supported") is True:
        problem = (
            "iss is missing although the server advertises authorization_response_iss_parameter_supported"
        )
    elif not answer.get("code"):
        problem = "the redirect carries no code"
    if problem:
        probe.report.record(
            "oauth.authorize",
            Status.FAIL,
            problem,
            evidence=evidence,
            hint="Redirect back with code, the request's state and (RFC 9207) iss; ChatGPT discards anything else.",
        )
        return None
    probe.report.record(
        "oauth.authorize",
        Status.PASS,
        "authorization code received; state and issuer match",
        evidence=evidence,
    )
    return answer["code"]


def requested_scope(probe: Probe) -> str | None:
    """The scope to ask for, chosen as the MCP spec says (challenge, then resource metadata, then the
    server's list), with offline_access added when the server offers it."""
    learned = probe.learned
    try:
        prm = (
            ProtectedResourceMetadata.model_validate(learned.resource_metadata)
            if learned.resource_metadata
            else None
        )
        asm = OAuthMetadata.model_validate(learned.server_metadata) if learned.server_metadata else None
    except ValueError:
        return None
    return get_client_metadata_scopes((learned.challenge or {}).get("scope"), prm, asm, GRANT_TYPES)


def resource_indicator(probe: Probe) -> str:
    """The RFC 8707 resource: the metadata's resource, else the MCP URL."""
    resource = (probe.learned.resource_metadata or {}).get("resource")
    return str(resource) if resource else resource_url_from_server_url(probe.url)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


# -- token endpoint ---------------------------------------------------------------------------


def client_credentials(client: RegisteredClient) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate the client as it registered (RFC 6749 §2.3.1)."""
    if client.method == ClientAuth.BASIC.method:
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret or '', safe='')}"
        return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}
    if client.method == ClientAuth.POST.method:
        return {}, {"client_id": client.client_id, "client_secret": client.client_secret or ""}
    return {}, {"client_id": client.client_id}


async def token_request(
    probe: Probe, client: RegisteredClient, form: dict[str, str]
) -> tuple[httpx.Response | None, list[str], str | None]:
    """POST to the token endpoint the metadata names: (response, evidence, error)."""
    metadata = probe.learned.server_metadata or {}
    endpoint = probe.reachable_url(str(metadata["token_endpoint"]))
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


async def exchange_code(
    probe: Probe, client: RegisteredClient, code: str, verifier: str
) -> dict[str, Any] | None:
    """``oauth.token``: the authorization code grant."""
    response, evidence, error = await token_request(
        probe,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "code_verifier": verifier,
            "resource": resource_indicator(probe),
        },
    )
    tokens = token_problem(probe, "oauth.token", response, evidence, error, client)
    if tokens is None:
        return None
    probe.learned.access_token = str(tokens["access_token"])
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


def token_problem(
    probe: Probe,
    check_id: str,
    response: httpx.Response | None,
    evidence: list[str],
    error: str | None,
    client: RegisteredClient,
) -> dict[str, Any] | None:
    """The token response when it is a valid one; otherwise record why not and return None."""
    if response is None:
        probe.report.record(check_id, Status.FAIL, f"no answer: {error}", evidence=evidence)
        return None
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
        probe.report.record(
            check_id,
            Status.FAIL,
            f"the token endpoint answered {error_code}" + (f": {description}" if description else ""),
            evidence=evidence,
            hint=hint,
        )
        return None
    if str(document.get("token_type", "")).lower() != "bearer":
        probe.report.record(
            check_id,
            Status.FAIL,
            f"token_type is {document.get('token_type')!r}, not Bearer",
            evidence=evidence,
            hint="Issue Bearer access tokens (RFC 6750); MCP clients send them in the Authorization header.",
        )
        return None
    return document


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
    tokens = token_problem(probe, "oauth.refresh_grant", response, evidence, error, client)
    if tokens is None:
        return
    probe.learned.access_token = str(tokens["access_token"])
    rotated = tokens.get("refresh_token")
    note = "rotated" if rotated and rotated != refresh_token else "kept"
    probe.report.record(
        "oauth.refresh_grant",
        Status.PASS,
        f"a new access token was issued; the refresh token was {note}",
        evidence=evidence,
    )
