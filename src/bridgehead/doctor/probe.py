"""One doctor run: its options, its HTTP client, and what the checks have learned so far."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
import orjson

from bridgehead import __version__
from bridgehead.doctor.browser import Browser, RedirectCatcher
from bridgehead.doctor.report import Report

if TYPE_CHECKING:
    from bridgehead.doctor.client import RegisteredClient

USER_AGENT = f"bridgehead-doctor/{__version__}"
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHATGPT_REDIRECT_URI = "https://chatgpt.com/connector_platform_oauth_redirect"
CHATGPT_CALLBACK_PREFIX = "https://chatgpt.com/connector/oauth/"
"""ChatGPT's other redirect URI form: this prefix and a per-connector callback id."""
MAX_BODY_BYTES = 4 * 1024 * 1024
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class AuthMode(StrEnum):
    """How the doctor treats authorization."""

    AUTO = "auto"
    """Follow the server: OAuth when it answers 401 or publishes Protected Resource Metadata."""
    NONE = "none"
    """Check the server as ChatGPT's "No authentication" mode would use it."""
    OAUTH = "oauth"
    """Check OAuth discovery and the flow even if the server answers without credentials."""


class Profile(StrEnum):
    """Whose behaviour the doctor's OAuth client follows."""

    CHATGPT = "chatgpt"
    """ChatGPT's: its redirect URI, client_secret_basic, and the probes for ChatGPT's known failures."""
    SPEC = "spec"
    """A client conforming to the MCP authorization spec (2025-11-25) and nothing more: a loopback
    redirect URI, the token endpoint method the server offers, no ChatGPT-specific probes."""


class ClientAuth(StrEnum):
    """How the doctor asks to authenticate its client at the token endpoint (it then authenticates
    exactly as the registration says)."""

    AUTO = "auto"
    """The profile's choice: client_secret_basic where offered (ChatGPT's), else what the server offers."""
    BASIC = "basic"
    POST = "post"
    NONE = "none"

    @property
    def method(self) -> str:
        """The RFC 7591 ``token_endpoint_auth_method`` name (``auto`` asks for ChatGPT's)."""
        return {
            "auto": "client_secret_basic",
            "basic": "client_secret_basic",
            "post": "client_secret_post",
            "none": "none",
        }[self.value]


@dataclass
class DoctorOptions:
    """What a doctor run does; the CLI's options, and what tests set directly."""

    auth: AuthMode = AuthMode.AUTO
    profile: Profile = Profile.CHATGPT
    client_auth: ClientAuth = ClientAuth.AUTO
    client_id: str | None = None
    """A pre-registered client: no registration, this client_id (and ``client_secret``) instead."""
    client_secret: str | None = None
    client_metadata_url: str | None = None
    """An HTTPS URL of a client ID metadata document to use as the client_id where the server supports them."""
    call_tool: str | None = None
    """Also call this tool (with ``call_arguments``): to check a tool that needs more scopes (step-up)."""
    call_arguments: dict[str, Any] | None = None
    interactive: bool = False
    browser: Browser | None = None
    """Where to send the user to sign in with ``interactive``; default: the system browser."""
    ca_bundle: Path | None = None
    """Trust this CA bundle instead of the default roots (a corporate or test CA)."""
    timeout: float = 10.0
    """Seconds for any one request or protocol step."""
    login_timeout: float = 300.0
    """Seconds to wait for the user to finish signing in with ``interactive``."""
    search_query: str | None = None
    """What to search for when checking ``search``; default: a few generic words until one finds something."""


class Unreachable(Exception):
    """A request got no HTTP response at all (DNS, connection, TLS, timeout)."""

    def __init__(self, message: str, *, certificate: bool = False) -> None:
        super().__init__(message)
        self.certificate = certificate


@dataclass
class Refusal:
    """A request the server refused, and how it answered the same request from a browser."""

    what: str
    automated: str
    browser: str
    browser_accepted: bool


@dataclass
class Learned:
    """What earlier checks found that later ones need."""

    first_contact: httpx.Response | None = None
    """The answer to an unauthenticated initialize POST at the URL."""
    auth_required: bool = False
    challenge: dict[str, str] | None = None
    resource_metadata: dict[str, Any] | None = None
    server_metadata: dict[str, Any] | None = None
    issuer: str | None = None
    blocked_by: str | None = None
    """The auth check whose failure forbids a conformant client to authorize at all."""
    endpoints: dict[str, str] | None = None
    """authorization_endpoint, token_endpoint and registration_endpoint the flow uses: the metadata's,
    or the 2025-03-26 defaults at the server's origin when there is no metadata at all."""
    access_token: str | None = None
    refresh_token: str | None = None
    authorization_kind: str | None = None
    """How the flow's own authorization request ended without a browser (``client.Outcome``)."""
    authorization_error: str | None = None
    """The ``error`` its redirect back carried, if any."""
    requested_scope: str | None = None
    """The scope of the last authorization request (None: omitted)."""
    granted_scope: str | None = None
    """The scope the last token response granted (None: not said)."""
    redirects: list[str] = field(default_factory=list)
    """3xx answers on protocol paths (well-known metadata, the MCP endpoint), as evidence lines."""
    refusals: list[Refusal] = field(default_factory=list)
    differences: list[tuple[str, str]] = field(default_factory=list)
    """("chatgpt" or "spec", what fails only for that kind of client)."""
    step_up: list[str] = field(default_factory=list)
    """Evidence of step-up authorizations (403 insufficient_scope), in order."""
    step_ups: int = 0
    """Step-up re-authorizations so far."""
    step_up_verdict: Any = None
    """How the last step-up ended (an ``oauth.StepUpVerdict``)."""
    challenges: list[tuple[str, Any]] = field(default_factory=list)
    """Every ``_meta["mcp/www_authenticate"]`` a tool result carried: (where, value)."""
    transport: str | None = None
    """"streamable" or "sse": the transport the tool checks use."""
    transport_url: str | None = None
    peer_certificate: dict[str, Any] | None = None
    """The server's TLS certificate as ``ssl.getpeercert()`` describes it."""
    client: RegisteredClient | None = None
    """The client the OAuth flow used (registered, pre-registered or a metadata document URL)."""

    def differ(self, fails_for: str, what: str) -> None:
        """Note something that fails only for ChatGPT (``"chatgpt"``) or only for spec clients (``"spec"``)."""
        if (fails_for, what) not in self.differences:
            self.differences.append((fails_for, what))


StepUp = Callable[[str | None], Awaitable[str | None]]
"""Re-authorize for a challenge's scope (None: none named); the new access token, or None."""


class Probe:
    """The shared state of one run: the target URL, options, HTTP client, report and findings."""

    def __init__(self, url: str, options: DoctorOptions, report: Report) -> None:
        self.url = url
        self.options = options
        self.report = report
        self.learned = Learned()
        self.ssl_context = ssl_context(options.ca_bundle)
        self.http = httpx.AsyncClient(
            verify=self.ssl_context,
            timeout=httpx.Timeout(options.timeout),
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
        )
        self.catcher: RedirectCatcher | None = None
        """The loopback listener for authorization responses (interactive runs and the spec profile)."""
        self.step_up: StepUp | None = None
        """Set once the OAuth flow holds a client: how a 403 insufficient_scope is answered."""
        self.step_up_lock = anyio.Lock()
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Probe:
        if self.options.interactive or self.options.profile is Profile.SPEC:
            # Listening for the whole run, so a step-up sign-in can come back to the same redirect URI.
            self.catcher = await self._stack.enter_async_context(RedirectCatcher())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()
        await self.http.aclose()

    @property
    def chatgpt(self) -> bool:
        """Whether the doctor emulates ChatGPT (and runs the probes for its known failures)."""
        return self.options.profile is Profile.CHATGPT

    @property
    def https(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request, never following redirects, with the body read up to MAX_BODY_BYTES (an SSE
        body up to its first complete JSON-RPC event, as a server may keep the stream open).

        Raises Unreachable when no HTTP response arrives.
        """
        content = orjson.dumps(json_body) if json_body is not None else None
        all_headers = dict(headers or {})
        if content is not None:
            all_headers.setdefault("content-type", "application/json")
        request = self.http.build_request(method, url, headers=all_headers, content=content, data=data)
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise unreachable(exc) from exc
        if self.learned.peer_certificate is None:
            self.learned.peer_certificate = peer_certificate(response)
        stream = response.headers.get("content-type", "").startswith("text/event-stream")
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES or (stream and complete_event(body)):
                    break
        except httpx.HTTPError as exc:
            raise unreachable(exc) from exc
        finally:
            await response.aclose()
        # Re-wrap so .text/.json() work on what was read (already decoded, so without its encoding).
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=kept,
            content=bytes(body[:MAX_BODY_BYTES]),
            request=request,
            extensions=response.extensions,
        )

    def reachable_url(self, url: str) -> str:
        """The URL to fetch for one the server's metadata names.

        When the server was reached over HTTPS but its metadata names the same host over plain
        HTTP (a TLS-terminating proxy it does not know about), the doctor goes on over HTTPS so it
        can check the rest; ``auth.metadata_urls`` reports the fault itself.
        """
        parts = urlsplit(url)
        target = urlsplit(self.url)
        if self.https and parts.scheme == "http" and parts.hostname == target.hostname:
            return urlunsplit(parts._replace(scheme="https"))
        return url

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` is on the MCP server's own origin (where its access token may go)."""
        a, b = urlsplit(url), urlsplit(self.url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def complete_event(body: bytearray) -> bool:
    """Whether an SSE body holds a whole event carrying a JSON-RPC message."""
    start = body.find(b'"jsonrpc"')
    return start >= 0 and (body.find(b"\n\n", start) >= 0 or body.find(b"\r\n\r\n", start) >= 0)


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The TLS trust the doctor uses: a given CA bundle, else httpx's defaults (certifi, SSL_CERT_FILE)."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.create_ssl_context()


def peer_certificate(response: httpx.Response) -> dict[str, Any] | None:
    """The TLS certificate of the connection a response came on, if it was TLS."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    certificate = ssl_object.getpeercert()
    return dict(certificate) if certificate else None


def unreachable(exc: httpx.HTTPError) -> Unreachable:
    """Describe a request that got no response, telling certificate problems apart."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Unreachable(f"certificate not valid: {cause.verify_message or cause}", certificate=True)
        if isinstance(cause, ssl.SSLError):
            return Unreachable(f"TLS handshake failed: {cause}", certificate=True)
        cause = cause.__cause__ or cause.__context__
    kind = type(exc).__name__
    text = str(exc) or kind
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"timed out ({kind})")
    return Unreachable(f"{kind}: {text}")


def describe(response: httpx.Response) -> str:
    """One evidence line for an exchange: ``POST url → 401 Unauthorized (application/json)``."""
    request = response.request
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    reason = response.reason_phrase or ""
    suffix = f" ({kind})" if kind else ""
    return f"{request.method} {request.url} → {response.status_code} {reason}".rstrip() + suffix


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def is_loopback(host: str | None) -> bool:
    """Whether a URL host is this machine (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def explain(exc: BaseException) -> str:
    """A one-line description of an exception, looking inside exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
