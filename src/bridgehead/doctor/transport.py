"""The first stage of ChatGPT's connection flow: the URL, then the transports.

``check_url`` makes the first contact (an unauthenticated ``initialize`` POST, as ChatGPT's
first request) and judges HTTPS and the endpoint path. ``check_transports`` then tries each
transport ChatGPT speaks with the official SDK client — Streamable HTTP (``initialize``, and the
2026-07-28 ``server/discover``) and the legacy HTTP+SSE transport — and picks the one the tool
checks use. ``open_session`` opens that session.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import anyio
import httpx
import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from bridgehead import __version__
from bridgehead.doctor import firewall
from bridgehead.doctor.bearer import BearerAuth
from bridgehead.doctor.probe import USER_AGENT, AuthMode, Probe, Unreachable, describe, explain, is_loopback
from bridgehead.doctor.report import Status, excerpt, shorten

CLIENT_INFO = types.Implementation(name="bridgehead-doctor", version=__version__)
ACCEPT_BOTH = "application/json, text/event-stream"
INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "bridgehead-doctor", "version": __version__},
    },
}
SSE_EVENT_WAIT = 5.0
SSE_MAX_BYTES = 64 * 1024
CERT_EXPIRY_WARNING_DAYS = 14


# -- stage 1a: the URL ---------------------------------------------------------------------------


async def check_url(probe: Probe) -> bool:
    """``url.https`` and ``url.endpoint``; False when nothing further can be checked."""
    report = probe.report
    parts = urlsplit(probe.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report.record(
            "url.https",
            Status.FAIL,
            "not an absolute http(s) URL",
            evidence=[f"URL: {probe.url}"],
            hint="Give the connector URL ChatGPT will use, e.g. https://mcp.example.com/mcp.",
        )
        return False
    try:
        first = await probe.send("POST", probe.url, headers={"accept": ACCEPT_BOTH}, json_body=INITIALIZE)
    except Unreachable as exc:
        if exc.certificate:
            report.record(
                "url.https",
                Status.FAIL,
                str(exc),
                evidence=[f"POST {probe.url} → {exc}"],
                hint="ChatGPT needs a certificate from a publicly trusted CA that names this host: install the "
                "full chain (leaf and intermediates), or use your tunnel's https URL. To trust a private CA "
                "while testing, pass --ca-bundle.",
            )
            report.record("url.endpoint", Status.SKIP, "blocked by url.https")
            return False
        if probe.https:
            report.record("url.https", Status.SKIP, "no connection to check the certificate on")
        else:
            record_scheme(probe)
        report.record(
            "url.endpoint",
            Status.FAIL,
            f"no answer: {exc}",
            evidence=[f"POST {probe.url} → {exc}"],
            hint="Check that the server is running and reachable from the internet at this URL; "
            "for a local server, that your tunnel (ngrok, Cloudflare Tunnel) is up.",
        )
        return False
    record_scheme(probe)
    probe.learned.first_contact = first
    probe.learned.auth_required = first.status_code == 401
    await firewall.compare(probe, first, f"POST {urlsplit(probe.url).path or '/'} (initialize)")
    await record_endpoint(probe, first)
    return report.status("url.endpoint") is not Status.FAIL


def record_scheme(probe: Probe) -> None:
    """``url.https``: HTTPS with a valid certificate; plain HTTP is a warning on loopback only."""
    parts = urlsplit(probe.url)
    report = probe.report
    if parts.scheme == "https":
        certificate = probe.learned.peer_certificate
        evidence = [f"TLS to {parts.hostname}: certificate verified"]
        if certificate and "notAfter" in certificate:
            expires = ssl.cert_time_to_seconds(str(certificate["notAfter"]))
            days = int((expires - time.time()) // 86400)
            evidence.append(f"certificate expires {certificate['notAfter']} ({days} days)")
            if days < CERT_EXPIRY_WARNING_DAYS:
                report.record(
                    "url.https",
                    Status.WARN,
                    f"certificate expires in {days} days",
                    evidence=evidence,
                    hint="Renew the certificate before it expires; ChatGPT refuses expired ones.",
                )
                return
        report.record("url.https", Status.PASS, "HTTPS with a valid certificate", evidence=evidence)
    elif is_loopback(parts.hostname):
        report.record(
            "url.https",
            Status.WARN,
            "plain HTTP on a loopback address: fine for local testing, but ChatGPT cannot reach it",
            evidence=[f"URL scheme: http, host {parts.hostname}"],
            hint="ChatGPT connects over the public internet, over HTTPS: expose the server with a tunnel "
            "(e.g. `ngrok http PORT`) and run the doctor against the tunnel's https URL.",
        )
    else:
        report.record(
            "url.https",
            Status.FAIL,
            "plain HTTP: ChatGPT only connects over HTTPS",
            evidence=[f"URL scheme: http, host {parts.hostname}"],
            hint="Terminate TLS in front of the server (reverse proxy, tunnel, or the server's own "
            "certificate) and use the https:// URL.",
        )


async def record_endpoint(probe: Probe, first: httpx.Response) -> None:
    """``url.endpoint``: the URL answers as an MCP endpoint (Streamable HTTP, 401, or legacy SSE)."""
    report = probe.report
    status = first.status_code
    evidence = [describe(first)]
    if 200 <= status < 300:
        if b"jsonrpc" in first.content:
            report.record(
                "url.endpoint",
                Status.PASS,
                f"answers initialize (HTTP {status})",
                evidence=[*evidence, shorten(first.text, 300)],
            )
            return
        report.record(
            "url.endpoint",
            Status.FAIL,
            f"answers HTTP {status}, but not with JSON-RPC",
            evidence=[*evidence, shorten(first.text, 300)],
            hint="This URL serves something else (a web page?). Point the connector at the MCP endpoint, "
            "usually …/mcp.",
        )
        return
    if status == 401:
        report.record(
            "url.endpoint",
            Status.PASS,
            "asks for authorization (401): see the auth checks",
            evidence=[*evidence, f"WWW-Authenticate: {first.headers.get('www-authenticate', '(none)')}"],
        )
        return
    if 300 <= status < 400:
        location = urljoin(probe.url, first.headers.get("location", ""))
        evidence.append(f"Location: {location}")
        if probe.https and urlsplit(location).scheme == "http":
            report.record(
                "url.endpoint",
                Status.FAIL,
                "redirects from HTTPS to plain HTTP",
                evidence=evidence,
                hint="The server builds URLs from the scheme it sees behind a TLS-terminating proxy: make it "
                "trust the proxy's X-Forwarded-Proto (Bridgehead: server.trusted_proxies) or set its public "
                "base URL.",
            )
        else:
            report.record(
                "url.endpoint",
                Status.WARN,
                f"redirects (HTTP {status}) to {location}",
                evidence=evidence,
                hint=f"Use {location} as the connector URL: clients do not reliably follow redirects of a "
                "POST.",
            )
        return
    answer = await probe_sse(probe, probe.url)
    evidence += answer.evidence
    if answer.endpoint or answer.status == 401:
        message = (
            "serves the legacy SSE transport (GET)" if answer.endpoint else "asks for authorization (401)"
        )
        report.record("url.endpoint", Status.PASS, message, evidence=evidence)
        if answer.status == 401 and answer.response is not None:
            # A legacy SSE endpoint: its GET is the request that carries the challenge.
            probe.learned.first_contact = answer.response
            probe.learned.auth_required = True
        return
    alternatives = await find_alternatives(probe)
    report.record(
        "url.endpoint",
        Status.FAIL,
        f"does not answer as an MCP endpoint (POST → {status}"
        + (f", GET → {answer.status})" if answer.status else ")"),
        evidence=[*evidence, shorten(first.text, 200)] + [f"{url}: {what}" for url, what in alternatives],
        hint=(
            f"Use {alternatives[0][0]} as the connector URL ({alternatives[0][1]})."
            if alternatives
            else "Check the path: MCP servers usually serve Streamable HTTP at /mcp (legacy SSE at /sse)."
        ),
    )


async def find_alternatives(probe: Probe) -> list[tuple[str, str]]:
    """Nearby URLs that do answer as MCP endpoints, for a hint."""
    found: list[tuple[str, str]] = []
    for url in dict.fromkeys([sibling(probe.url, "mcp"), origin(probe.url) + "/mcp"]):
        if url == probe.url:
            continue
        try:
            response = await probe.send("POST", url, headers={"accept": ACCEPT_BOTH}, json_body=INITIALIZE)
        except Unreachable:
            continue
        if response.status_code == 401 or (response.is_success and b"jsonrpc" in response.content):
            found.append((url, "answers Streamable HTTP"))
            break
    sse = sibling(probe.url, "sse")
    if sse != probe.url:
        answer = await probe_sse(probe, sse)
        if answer.endpoint or answer.status == 401:
            found.append((sse, "answers the legacy SSE transport"))
    return found


# -- stage 1b: the transports --------------------------------------------------------------------


async def check_transports(probe: Probe) -> None:
    """``transport.streamable_http``, ``transport.discover`` and ``transport.sse``."""
    report = probe.report
    learned = probe.learned
    if learned.auth_required and not learned.access_token:
        if probe.options.auth is AuthMode.NONE:
            report.record(
                "transport.streamable_http",
                Status.FAIL,
                "the server requires authorization (401), but --auth none was given",
                evidence=[describe(learned.first_contact)] if learned.first_contact else [],
                hint="Choose OAuth (or Mixed) authentication for this connector, or turn authorization off.",
            )
            report.skip_unrecorded("blocked by transport.streamable_http", stage="transport")
            return
        report.skip_unrecorded(needs_token(probe), stage="transport")
        return
    streamable_error = await check_streamable(probe)
    if streamable_error is None:
        await check_discover(probe)
    else:
        report.record("transport.discover", Status.NA, "no Streamable HTTP transport to probe")
    sse_ok = await check_sse(probe, streamable_ok=streamable_error is None)
    if streamable_error is not None:
        evidence = [f"initialize at {probe.url}: {streamable_error}"]
        elsewhere = await streamable_sibling(probe, evidence)
        if sse_ok:
            report.record(
                "transport.streamable_http",
                Status.WARN,
                "no Streamable HTTP at this URL: only the legacy SSE transport works",
                evidence=evidence,
                hint=f"{elsewhere} answers Streamable HTTP: prefer it as the connector URL."
                if elsewhere
                else "ChatGPT still speaks SSE, but it is deprecated since MCP 2025-03-26: serve Streamable "
                "HTTP (usually at /mcp) too.",
            )
        else:
            report.record(
                "transport.streamable_http",
                Status.FAIL,
                "initialize over Streamable HTTP failed",
                evidence=evidence,
                hint="The endpoint must answer a JSON-RPC initialize POST (Accept: application/json, "
                "text/event-stream) with an InitializeResult, as JSON or an SSE stream.",
            )


async def streamable_sibling(probe: Probe, evidence: list[str]) -> str | None:
    """The …/mcp next to the URL when it answers initialize (or asks for a token) where the URL did not."""
    url = sibling(probe.url, "mcp")
    if url == probe.url:
        return None
    headers = {"accept": ACCEPT_BOTH}
    if probe.learned.access_token:
        headers["authorization"] = f"Bearer {probe.learned.access_token}"
    try:
        response = await probe.send("POST", url, headers=headers, json_body=INITIALIZE)
    except Unreachable as exc:
        evidence.append(f"POST {url} → {exc}")
        return None
    evidence.append(describe(response))
    answers = response.status_code == 401 or (response.is_success and b"jsonrpc" in response.content)
    return url if answers else None


def needs_token(probe: Probe) -> str:
    """Why checks behind the bearer token could not run."""
    report = probe.report
    authorize = report.get("oauth.authorize")
    signs_in = (
        authorize is not None and authorize.status is Status.SKIP and "--interactive" in authorize.message
    )
    if signs_in and not probe.options.interactive:
        return "needs an access token: run with --interactive to sign in"
    failed = report.first_failed(
        "oauth.token",
        "oauth.iss",
        "oauth.authorize",
        "oauth.cimd",
        "oauth.register",
        "auth.pkce",
        "auth.server_metadata",
        "auth.protected_resource",
        "auth.challenge",
    )
    return f"needs an access token (blocked by {failed})" if failed else "needs an access token"


async def check_streamable(probe: Probe) -> str | None:
    """``transport.streamable_http`` when it passes; the error text when it does not."""
    evidence: list[str] = []
    try:
        with anyio.fail_after(probe.options.timeout * 2):
            async with open_session(probe, "streamable", probe.url) as (_, result):
                evidence = initialize_evidence(result)
    except Exception as exc:
        return explain_mcp(exc)
    if result.capabilities.tools is None:
        probe.report.record(
            "transport.streamable_http",
            Status.WARN,
            f"initialize works ({result.protocol_version}), but the server declares no tools capability",
            evidence=evidence,
            hint="Declare the tools capability in the InitializeResult, or ChatGPT will show no tools.",
        )
    else:
        probe.report.record(
            "transport.streamable_http",
            Status.PASS,
            f"initialize works (protocol {result.protocol_version})",
            evidence=evidence,
        )
    probe.learned.transport, probe.learned.transport_url = "streamable", probe.url
    return None


async def check_discover(probe: Probe) -> None:
    """``transport.discover``: the 2026-07-28 ``server/discover`` probe, as newer clients send it first."""
    report = probe.report
    raw: dict[str, Any] | None = None
    refused: MCPError | None = None
    try:
        with anyio.fail_after(probe.options.timeout * 2):
            async with (
                streamable_streams(probe, probe.url) as (read, write),
                ClientSession(read, write, read_timeout_seconds=probe.options.timeout) as session,
            ):
                try:
                    raw = await session.send_discover(LATEST_MODERN_VERSION)
                except MCPError as exc:
                    # Caught here: leaving the SDK's task groups would wrap it in an exception group.
                    refused = exc
    except Exception as exc:
        report.record(
            "transport.discover",
            Status.WARN,
            f"server/discover broke the connection: {explain_mcp(exc)}",
            evidence=[f"server/discover ({LATEST_MODERN_VERSION}) → {explain_mcp(exc)}"],
            hint="A server that does not speak 2026-07-28 should answer server/discover with a JSON-RPC error "
            "(e.g. -32601) so clients fall back to initialize.",
        )
        return
    if refused is not None or raw is None:
        error = f"JSON-RPC error {refused.code}: {refused.message}" if refused else "no result"
        report.record(
            "transport.discover",
            Status.NA,
            "server/discover not supported: the server speaks the initialize handshake only",
            evidence=[f"server/discover ({LATEST_MODERN_VERSION}) → {error}"],
        )
        return
    evidence = [f"server/discover → {excerpt(raw, 300)}"]
    try:
        result = types.DiscoverResult.model_validate(raw)
    except ValidationError as exc:
        report.record(
            "transport.discover",
            Status.FAIL,
            "server/discover answered, but not with a valid DiscoverResult",
            evidence=[*evidence, *validation_lines(exc)],
            hint="Return supportedVersions and capabilities as the 2026-07-28 schema defines them.",
        )
        return
    modern = [v for v in result.supported_versions if v in MODERN_PROTOCOL_VERSIONS]
    if modern:
        report.record(
            "transport.discover",
            Status.PASS,
            f"supports {', '.join(modern)} (supportedVersions {result.supported_versions})",
            evidence=evidence,
        )
    else:
        report.record(
            "transport.discover",
            Status.NA,
            f"answers server/discover but offers only {result.supported_versions}",
            evidence=evidence,
        )


async def check_sse(probe: Probe, *, streamable_ok: bool) -> bool:
    """``transport.sse``: GET the URL or its /sse sibling, expect an ``endpoint`` event, then initialize."""
    report = probe.report
    evidence: list[str] = []
    found: SseAnswer | None = None
    for url in dict.fromkeys([probe.url, sibling(probe.url, "sse")]):
        answer = await probe_sse(probe, url, token=probe.learned.access_token)
        evidence += answer.evidence
        if answer.endpoint:
            found = answer
            break
        if answer.status == 401:
            report.record(
                "transport.sse",
                Status.FAIL if probe.learned.access_token else Status.SKIP,
                "the SSE endpoint refused the access token (401)"
                if probe.learned.access_token
                else needs_token(probe),
                evidence=evidence,
            )
            return False
    if found is None:
        if streamable_ok:
            report.record(
                "transport.sse",
                Status.NA,
                "no legacy SSE endpoint (not needed: Streamable HTTP works)",
                evidence=evidence,
            )
        else:
            report.record(
                "transport.sse",
                Status.FAIL,
                "no legacy SSE endpoint either: neither transport ChatGPT speaks works",
                evidence=evidence,
                hint="Serve Streamable HTTP at the connector URL (or the legacy SSE transport at …/sse).",
            )
        return False
    if urlsplit(found.endpoint or "")[:2] != urlsplit(found.url)[:2]:
        report.record(
            "transport.sse",
            Status.FAIL,
            "the endpoint event points to another origin",
            evidence=evidence,
            hint="The endpoint event must name a URL on the SSE stream's own origin (usually a relative path "
            "such as /messages/?session_id=…); clients refuse any other.",
        )
        return False
    try:
        with anyio.fail_after(probe.options.timeout * 2):
            async with open_session(probe, "sse", found.url) as (_, result):
                evidence += initialize_evidence(result)
    except Exception as exc:
        report.record(
            "transport.sse",
            Status.FAIL,
            f"endpoint event received, but initialize over SSE failed: {explain_mcp(exc)}",
            evidence=evidence,
            hint="POST each JSON-RPC message to the endpoint URL and send the responses as `message` events "
            "on the SSE stream.",
        )
        return False
    report.record(
        "transport.sse",
        Status.PASS,
        f"endpoint event and initialize work at {found.url}",
        evidence=evidence,
    )
    if probe.learned.transport is None:
        probe.learned.transport, probe.learned.transport_url = "sse", found.url
    return True


def initialize_evidence(result: types.InitializeResult) -> list[str]:
    info = result.server_info
    capabilities = result.capabilities.model_dump(by_alias=True, exclude_none=True)
    return [
        f"protocolVersion {result.protocol_version}; serverInfo {info.name} {info.version}",
        f"capabilities: {excerpt(capabilities, 200)}",
    ]


# -- the legacy SSE probe ------------------------------------------------------------------------


@dataclass
class SseAnswer:
    """What a GET for an SSE stream found."""

    url: str
    status: int | None = None
    endpoint: str | None = None
    evidence: list[str] = field(default_factory=list)
    response: httpx.Response | None = None
    """The response (headers only; its body is not kept)."""


async def probe_sse(probe: Probe, url: str, *, token: str | None = None) -> SseAnswer:
    """GET ``url`` as a legacy SSE client and wait briefly for the ``endpoint`` event."""
    answer = SseAnswer(url)
    headers = {"accept": "text/event-stream"}
    if token and probe.same_origin(url):
        headers["authorization"] = f"Bearer {token}"
    try:
        with anyio.fail_after(probe.options.timeout + SSE_EVENT_WAIT):
            async with probe.http.stream("GET", url, headers=headers) as response:
                answer.status, answer.response = response.status_code, response
                line = describe(response)
                kind = response.headers.get("content-type", "")
                if response.status_code != 200 or not kind.startswith("text/event-stream"):
                    answer.evidence.append(line)
                    return answer
                wait = min(SSE_EVENT_WAIT, probe.options.timeout)
                with anyio.move_on_after(wait):
                    async for event, data in sse_events(response):
                        if event == "endpoint":
                            answer.endpoint = urljoin(url, data.strip())
                            answer.evidence.append(f"{line}; event: endpoint, data: {shorten(data, 120)}")
                            break
                if answer.endpoint is None:
                    answer.evidence.append(f"{line}; no endpoint event within {wait:.0f}s")
    except TimeoutError:
        answer.evidence.append(f"GET {url} → timed out")
    except httpx.HTTPError as exc:
        answer.evidence.append(f"GET {url} → {explain(exc)}")
    return answer


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs from a text/event-stream body, reading at most SSE_MAX_BYTES."""
    event, read = "message", 0
    data: list[str] = []
    async for line in response.aiter_lines():
        read += len(line) + 1
        if read > SSE_MAX_BYTES:
            return
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


# -- MCP sessions over the SDK -------------------------------------------------------------------


def sdk_http_client(
    probe: Probe, url: str, *, timeout: float | None = None, anonymous: bool = False
) -> httpx2.AsyncClient:
    """The SDK's HTTP client for ``url``: bounded, with the doctor's TLS trust, and (unless
    ``anonymous``) the access token on requests to the MCP server's own origin only, with step-up
    on 403 insufficient_scope."""
    seconds = timeout or probe.options.timeout
    return httpx2.AsyncClient(
        headers={"user-agent": USER_AGENT},
        timeout=httpx2.Timeout(seconds),
        verify=probe.ssl_context,
        follow_redirects=False,
        auth=None if anonymous else BearerAuth(probe),
    )


@asynccontextmanager
async def streamable_streams(probe: Probe, url: str, *, anonymous: bool = False) -> AsyncIterator[Any]:
    """The read and write streams of a Streamable HTTP connection to ``url``."""
    async with (
        sdk_http_client(probe, url, anonymous=anonymous) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams


@asynccontextmanager
async def open_session(
    probe: Probe, kind: str, url: str, *, anonymous: bool = False
) -> AsyncIterator[tuple[ClientSession, types.InitializeResult]]:
    """An initialized SDK session over ``kind`` ("streamable" or "sse") at ``url`` (without the
    access token when ``anonymous``)."""
    timeout = probe.options.timeout
    if kind == "streamable":
        async with (
            streamable_streams(probe, url, anonymous=anonymous) as (read, write),
            ClientSession(read, write, read_timeout_seconds=timeout, client_info=CLIENT_INFO) as session,
        ):
            yield session, await session.initialize()
        return

    def client_factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        client = sdk_http_client(probe, url, timeout=probe.options.timeout * 6, anonymous=anonymous)
        if headers:
            client.headers.update(headers)
        return client

    async with (
        sse_client(
            url,
            timeout=timeout,
            sse_read_timeout=timeout * 6,
            httpx_client_factory=client_factory,
        ) as (read, write),
        ClientSession(read, write, read_timeout_seconds=timeout, client_info=CLIENT_INFO) as session,
    ):
        yield session, await session.initialize()


# -- helpers ----------------------------------------------------------------------------------


def explain_mcp(exc: BaseException) -> str:
    """Like ``explain``, naming JSON-RPC errors by code and message."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"JSON-RPC error {exc.code}: {exc.message}"
    return explain(exc)


def validation_lines(exc: ValidationError, limit: int = 5) -> list[str]:
    """The first few pydantic errors as evidence lines."""
    lines = [
        f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors()[:limit]
    ]
    if exc.error_count() > limit:
        lines.append(f"… and {exc.error_count() - limit} more")
    return lines


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sibling(url: str, name: str) -> str:
    """The URL of the ``name`` endpoint next to ``url``: …/mcp ↔ …/sse, else ``url`` + /name."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    head, _, last = path.rpartition("/")
    new_path = f"{head}/{name}" if last in ("mcp", "sse") else f"{path}/{name}"
    return urlunsplit(parts._replace(path=new_path, query="", fragment=""))
