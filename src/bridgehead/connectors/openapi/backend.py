"""Calling the backend API: one request within a deadline, with retries, redirects and a size limit.

``timeout`` bounds the whole call, retries and backoff included, so a tool call
always ends within it. Only idempotent requests are retried, on connection
failures, connect timeouts and 502/503/504. Redirects are followed by hand
(at most five): every hop goes through the SSRF guard, and credentials are sent
only to the backend's own origin.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import anyio
import httpx

from bridgehead.connectors.openapi.backend_auth import BackendAuth, TokenError
from bridgehead.ssrf import AddressGuard, BlockedAddressError, guarded_async_transport

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class BackendError(Exception):
    """A call that got no usable response; the message is written for the model to read."""


@dataclass(frozen=True)
class BackendRequest:
    """One call to make, with its path already filled in and encoded."""

    method: str
    path: str
    label: str
    """``GET /tickets/{id}``: names the operation in logs and messages without its arguments."""
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    idempotent: bool = False


@dataclass(frozen=True)
class BackendResponse:
    """What came back: the status, headers and at most ``max_response_bytes`` of the body."""

    status: int
    reason: str
    headers: httpx.Headers
    content: bytes
    truncated: bool
    attempts: int = 1


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _shown(url: httpx.URL) -> str:
    """A URL without its query, which may hold a signature or a token."""
    return str(url.copy_with(query=None, fragment=None))


class BackendClient:
    """The HTTP client of one openapi connector instance."""

    def __init__(
        self,
        name: str,
        base_url: str,
        auth: BackendAuth | None,
        guard: AddressGuard,
        *,
        timeout: float,
        max_response_bytes: int,
        retries: int,
        retry_backoff: float,
        ca_file: str | None = None,
        user_agent: str = "Bridgehead",
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.guard = guard
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.ca_file = ca_file
        self.user_agent = user_agent
        self._origin = _origin(httpx.URL(self.base_url))
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # Built on first use, inside the event loop that will drive it.
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=guarded_async_transport(self.guard, self.ca_file),
                follow_redirects=False,
                headers={"user-agent": self.user_agent},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def secrets(self) -> list[str]:
        return self.auth.secrets() if self.auth is not None else []

    async def send(self, request: BackendRequest) -> BackendResponse:
        """Make the call; raises BackendError when no response could be had in time."""
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            attempts_left = self.retries - attempt + 1 if request.idempotent else 0
            # A connect timeout leaves time for the remaining attempts; a slow answer may use it all.
            connect = remaining / (attempts_left + 1)
            started = time.monotonic()
            response: BackendResponse | None = None
            try:
                with anyio.fail_after(max(remaining, 0.001)):
                    response = await self._attempt(request, httpx.Timeout(remaining, connect=connect))
            except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                failure = f"the backend did not answer within {self.timeout:g} s"
            except httpx.ConnectTimeout:
                failure = f"connecting to {self.base_url} timed out"
            except httpx.ConnectError as exc:
                failure = f"cannot connect to {self.base_url} ({exc or 'connection failed'})"
            except httpx.RemoteProtocolError as exc:
                failure = f"the connection to {self.base_url} broke ({exc or 'no response'})"
            except httpx.HTTPError as exc:
                raise BackendError(f"{request.label} failed: {exc or type(exc).__name__}") from exc
            else:
                elapsed = (time.monotonic() - started) * 1000
                logger.info(
                    "%s: %s -> HTTP %d in %.0f ms", self.name, request.label, response.status, elapsed
                )
                if response.status not in RETRY_STATUSES:
                    return replace(response, attempts=attempt)
                failure = f"HTTP {response.status}"
            wait = self.retry_backoff * 2 ** (attempt - 1)
            if attempts_left > 0 and time.monotonic() + wait < deadline:
                logger.info(
                    "%s: %s: %s; retrying (attempt %d)", self.name, request.label, failure, attempt + 1
                )
                await anyio.sleep(wait)
                continue
            if response is not None:
                return replace(response, attempts=attempt)
            logger.info("%s: %s: %s", self.name, request.label, failure)
            tries = f" (after {attempt} attempts)" if attempt > 1 else ""
            raise BackendError(f"{request.label} failed: {failure}{tries}.")

    async def _attempt(self, request: BackendRequest, limits: httpx.Timeout) -> BackendResponse:
        http = self._client()
        method, content = request.method, request.content
        headers = dict(request.headers)
        url = httpx.URL(self.base_url + request.path)
        params: httpx.QueryParams | None = httpx.QueryParams(tuple(request.params))
        for hop in range(MAX_REDIRECTS + 1):
            outgoing = http.build_request(
                method, url, params=params, headers=headers, content=content, timeout=limits
            )
            try:
                response = await self._send(outgoing, authenticate=_origin(outgoing.url) == self._origin)
            except BlockedAddressError as exc:
                if hop:
                    raise BackendError(
                        f"{request.label} was redirected to {_shown(outgoing.url)}, and Bridgehead {exc}"
                    ) from exc
                raise BackendError(f"{request.label}: Bridgehead {exc}") from exc
            except TokenError as exc:
                raise BackendError(f"{request.label}: cannot authenticate to the backend: {exc}") from exc
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return await self._read(response)
            await response.aclose()
            try:
                url, params = outgoing.url.join(location), None
            except httpx.InvalidURL as exc:
                raise BackendError(f"{request.label} was redirected to an invalid URL") from exc
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method = "GET" if method != "HEAD" else method
                content = None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        raise BackendError(f"{request.label} failed: more than {MAX_REDIRECTS} redirects")

    async def _send(self, outgoing: httpx.Request, *, authenticate: bool) -> httpx.Response:
        http = self._client()
        if self.auth is None or not authenticate:
            return await http.send(outgoing, stream=True)
        outgoing.headers.update(await self.auth.headers(http))
        response = await http.send(outgoing, stream=True)
        if response.status_code == 401 and self.auth.invalidate(outgoing.headers):
            # The credentials may have expired early or been revoked: fetch fresh ones once.
            await response.aclose()
            outgoing.headers.update(await self.auth.headers(http))
            response = await http.send(outgoing, stream=True)
        return response

    async def _read(self, response: httpx.Response) -> BackendResponse:
        body = bytearray()
        truncated = False
        try:
            async for chunk in response.aiter_bytes():
                room = self.max_response_bytes - len(body)
                if len(chunk) > room:
                    body += chunk[:room]
                    truncated = True
                    break
                body += chunk
        finally:
            await response.aclose()
        return BackendResponse(
            response.status_code, response.reason_phrase, response.headers, bytes(body), truncated
        )
