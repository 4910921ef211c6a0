"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00, MCP 2025-11-25).

A client may identify itself with an HTTPS URL as its ``client_id``; the URL
serves the client's metadata (name, redirect URIs, how it authenticates and,
for ``private_key_jwt``, its public keys). ChatGPT's documents live at
``https://chatgpt.com/oauth/…/client.json``. Bridgehead fetches the document
when it meets such a ``client_id`` and uses it as the client's registration:

- the URL must be https with a path, without dot segments, fragment or user
  info; it is fetched with a time limit and a size cap (5 KB, the draft's
  recommendation), without following redirects, and only from public
  addresses (the SSRF guard in :mod:`bridgehead.ssrf`). ``http://`` and
  loopback addresses are accepted only behind
  ``auth.cimd_allow_insecure_loopback``, which is for tests;
- the document must be a JSON object whose ``client_id`` is its own URL,
  byte for byte, with a ``client_name`` and ``redirect_uris``;
- shared secrets are impossible here, so the document authenticates with
  ``none`` (PKCE alone) or ``private_key_jwt`` (keys in ``jwks`` or at
  ``jwks_uri``, fetched the same way);
- a valid document is cached as its ``Cache-Control`` allows, within a floor
  and a ceiling; ``no-store`` and ``no-cache`` are honoured, and failures and
  invalid documents are never cached.

Any problem is a :class:`ClientDocumentError` whose message is fit for an
``error_description``; callers turn it into ``invalid_client`` or an error page.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
import orjson

from bridgehead import __version__
from bridgehead.auth.keys import ASYMMETRIC_ALGORITHMS
from bridgehead.auth.redirect_uris import LOOPBACK_HOSTS, RedirectURIError, check_redirect_uris, split_url
from bridgehead.ssrf import AddressGuard, BlockedAddressError, guarded_async_transport

DOCUMENT_MAX_BYTES = 5 * 1024
JWKS_MAX_BYTES = 64 * 1024
MAX_URL_LENGTH = 512  # the client_id column's width
CACHE_FLOOR = 60.0
CACHE_CEILING = 24 * 3600.0
CACHE_DEFAULT = 300.0  # a document served without freshness information
CACHE_ENTRIES = 1000
# A token naming an unknown key refetches the client's JWKS (it rotated), but not more often than this.
JWKS_REFETCH_INTERVAL = 30.0

AUTH_METHODS = ("none", "private_key_jwt")
GRANT_TYPES = ("authorization_code", "refresh_token")
SIGNING_ALGORITHMS = ASYMMETRIC_ALGORITHMS
LOOPBACK_HINT = (
    "client metadata documents must come from a public address "
    "(auth.cimd_allow_insecure_loopback = true allows loopback, for tests only)"
)


class ClientDocumentError(Exception):
    """A client metadata document (or its keys) that cannot be used; the message says why."""


@dataclass(frozen=True)
class ClientDocument:
    """A validated client metadata document."""

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    auth_method: str
    scope: str | None
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    signing_alg: str | None
    metadata: dict[str, Any] = field(compare=False)


def is_document_url(client_id: str) -> bool:
    """Whether a client_id names a metadata document (a URL) rather than a registered client."""
    return client_id.startswith(("https://", "http://"))


def _is_loopback_host(host: str | None) -> bool:
    return host is not None and (host in LOOPBACK_HOSTS or host.startswith("127."))


def check_url(url: str, *, allow_insecure_loopback: bool, what: str = "client_id") -> None:
    """Refuse a URL the draft forbids as a client_id (or that Bridgehead would not fetch a JWKS from)."""
    if len(url) > MAX_URL_LENGTH:
        raise ClientDocumentError(f"the {what} URL is longer than {MAX_URL_LENGTH} characters")
    parts = split_url(url)
    if parts is None or not parts.hostname:
        raise ClientDocumentError(f"the {what} {url!r} is not a valid URL")
    insecure = parts.scheme == "http" and allow_insecure_loopback and _is_loopback_host(parts.hostname)
    if parts.scheme != "https" and not insecure:
        raise ClientDocumentError(f"the {what} {url!r} must be an https:// URL")
    if "@" in parts.netloc:
        raise ClientDocumentError(f"the {what} {url!r} must not contain a user name or password")
    if "#" in url:
        raise ClientDocumentError(f"the {what} {url!r} must not contain a fragment")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise ClientDocumentError(f"the {what} {url!r} has an invalid port") from exc
    if what == "client_id":
        if parts.path in ("", "/"):
            raise ClientDocumentError(f"the client_id {url!r} must have a path, e.g. /oauth/client.json")
        if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
            raise ClientDocumentError(f"the client_id {url!r} must not contain . or .. path segments")


def freshness(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds a response may be reused (RFC 9111), within the floor and ceiling; None: never store it."""
    directives: dict[str, str | None] = {}
    for item in headers.get_list("cache-control", split_commas=True):
        name, _, value = item.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"') or None
    if "no-store" in directives or "no-cache" in directives:
        return None
    lifetime: float | None = None
    max_age = directives.get("max-age")
    if max_age is not None:
        lifetime = float(max_age) if max_age.isdigit() else 0.0
    elif headers.get("expires"):
        try:
            expires = parsedate_to_datetime(headers["expires"]).timestamp()
        except (TypeError, ValueError):
            lifetime = 0.0  # an invalid Expires means "already expired" (RFC 9111 §5.3)
        else:
            lifetime = expires - (time.time() if now is None else now)
    if lifetime is None:
        lifetime = CACHE_DEFAULT
    return min(max(lifetime, CACHE_FLOOR), CACHE_CEILING)


def parse_document(url: str, data: Any, *, allow_insecure_loopback: bool) -> ClientDocument:
    """Validate a fetched document against its URL; ClientDocumentError names the first problem."""
    if not isinstance(data, dict):
        raise ClientDocumentError("the client metadata document is not a JSON object")
    if data.get("client_id") != url:
        raise ClientDocumentError(
            f"the document's client_id ({str(data.get('client_id'))[:200]!r}) is not its own URL ({url!r})"
        )
    name = data.get("client_name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ClientDocumentError("the document needs a client_name (a string of at most 255 characters)")
    try:
        redirect_uris = check_redirect_uris(data.get("redirect_uris"))
    except RedirectURIError as exc:
        raise ClientDocumentError(f"the document's {exc}") from exc
    if "client_secret" in data or "client_secret_expires_at" in data:
        raise ClientDocumentError("a client metadata document must not carry a client_secret")
    method = data.get("token_endpoint_auth_method", "none")
    if method not in AUTH_METHODS:
        raise ClientDocumentError(
            f"token_endpoint_auth_method {method!r} is not allowed for a metadata document "
            "(no shared secrets: use 'none' with PKCE or 'private_key_jwt')"
        )
    declared = data.get("grant_types", list(GRANT_TYPES))
    if not isinstance(declared, list) or "authorization_code" not in declared:
        raise ClientDocumentError("the document's grant_types must include authorization_code")
    # Documents are shared by every server a client talks to: grant types Bridgehead
    # does not offer such clients (client_credentials, device codes) are ignored, not refused.
    grant_types = tuple(g for g in GRANT_TYPES if g in declared)
    response_types = data.get("response_types", ["code"])
    if not isinstance(response_types, list) or "code" not in response_types:
        raise ClientDocumentError("the document's response_types must include 'code'")
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise ClientDocumentError("the document's scope must be a space-separated string")
    jwks, jwks_uri, signing_alg = (
        data.get("jwks"),
        data.get("jwks_uri"),
        data.get("token_endpoint_auth_signing_alg"),
    )
    if jwks is not None and jwks_uri is not None:
        raise ClientDocumentError("the document must not have both jwks and jwks_uri")
    if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise ClientDocumentError("the document's jwks must be a JSON Web Key Set ({'keys': [...]})")
    if jwks_uri is not None:
        if not isinstance(jwks_uri, str):
            raise ClientDocumentError("the document's jwks_uri must be a URL")
        check_url(jwks_uri, allow_insecure_loopback=allow_insecure_loopback, what="jwks_uri")
    if method == "private_key_jwt" and jwks is None and jwks_uri is None:
        raise ClientDocumentError("private_key_jwt needs the client's public keys: add jwks or jwks_uri")
    if signing_alg is not None and signing_alg not in SIGNING_ALGORITHMS:
        raise ClientDocumentError(
            f"token_endpoint_auth_signing_alg {signing_alg!r} is not supported (use one of "
            f"{', '.join(SIGNING_ALGORITHMS)})"
        )
    return ClientDocument(
        client_id=url,
        client_name=name.strip(),
        redirect_uris=tuple(redirect_uris),
        grant_types=grant_types,
        auth_method=method,
        scope=scope,
        jwks=jwks,
        jwks_uri=jwks_uri,
        signing_alg=signing_alg,
        metadata={k: v for k, v in data.items() if k not in ("jwks",)},
    )


@dataclass
class _Cached:
    value: Any
    fresh_until: float


class ClientMetadataDocuments:
    """Fetches, validates and caches client metadata documents and the keys they name."""

    def __init__(self, *, timeout: float, allow_insecure_loopback: bool) -> None:
        self.timeout = timeout
        self.allow_insecure_loopback = allow_insecure_loopback
        self.guard = AddressGuard(allow_loopback=allow_insecure_loopback, hint=LOOPBACK_HINT)
        self._documents: dict[str, _Cached] = {}
        self._keys: dict[str, _Cached] = {}
        self._keys_fetched_at: dict[str, float] = {}

    async def document(self, client_id: str) -> ClientDocument:
        """The validated document for a URL client_id, from the cache while it is fresh."""
        check_url(client_id, allow_insecure_loopback=self.allow_insecure_loopback)
        cached = self._documents.get(client_id)
        if cached is not None and cached.fresh_until > time.monotonic():
            document: ClientDocument = cached.value
            return document
        body, lifetime = await self._fetch(client_id, DOCUMENT_MAX_BYTES, "the client metadata document")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ClientDocumentError(f"the client metadata document at {client_id} is not JSON") from exc
        document = parse_document(client_id, data, allow_insecure_loopback=self.allow_insecure_loopback)
        self._remember(self._documents, client_id, document, lifetime)
        return document

    async def signing_keys(self, document: ClientDocument, *, refetch: bool = False) -> jwt.PyJWKSet:
        """The client's public keys: its inline jwks, or its jwks_uri (cached like the document).

        ``refetch`` asks for a fresh copy of jwks_uri (an unknown key id), at most every
        ``JWKS_REFETCH_INTERVAL`` seconds.
        """
        if document.jwks is not None:
            return _key_set(document.jwks, "the document's jwks")
        uri = document.jwks_uri
        if uri is None:
            raise ClientDocumentError("the client has no public keys (jwks or jwks_uri)")
        now = time.monotonic()
        cached = self._keys.get(uri)
        recently = now - self._keys_fetched_at.get(uri, float("-inf")) < JWKS_REFETCH_INTERVAL
        if cached is not None and cached.fresh_until > now and (not refetch or recently):
            keys: jwt.PyJWKSet = cached.value
            return keys
        body, lifetime = await self._fetch(uri, JWKS_MAX_BYTES, "the client's JWKS")
        self._keys_fetched_at[uri] = now
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ClientDocumentError(f"the client's JWKS at {uri} is not JSON") from exc
        keys = _key_set(data, f"the client's JWKS at {uri}")
        self._remember(self._keys, uri, keys, lifetime)
        return keys

    def _remember(self, cache: dict[str, _Cached], key: str, value: Any, lifetime: float | None) -> None:
        if lifetime is None:
            cache.pop(key, None)
            return
        if len(cache) >= CACHE_ENTRIES and key not in cache:
            cache.pop(next(iter(cache)))  # the oldest entry
        cache[key] = _Cached(value, time.monotonic() + lifetime)

    async def _fetch(self, url: str, limit: int, what: str) -> tuple[bytes, float | None]:
        """The body of a 200 answer of at most ``limit`` bytes, and how long it may be cached."""
        check_url(url, allow_insecure_loopback=self.allow_insecure_loopback, what="URL of " + what)
        headers = {"accept": "application/json", "user-agent": f"Bridgehead/{__version__}"}
        try:
            async with asyncio.timeout(self.timeout):
                async with (
                    httpx.AsyncClient(
                        transport=guarded_async_transport(self.guard),
                        timeout=self.timeout,
                        follow_redirects=False,
                        headers=headers,
                    ) as http,
                    http.stream("GET", url) as response,
                ):
                    return await _read(response, url, limit, what)
        except TimeoutError as exc:
            raise ClientDocumentError(f"{what} at {url} did not arrive within {self.timeout:g} s") from exc
        except BlockedAddressError as exc:
            raise ClientDocumentError(f"{what} at {url} cannot be fetched: Bridgehead {exc}") from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ClientDocumentError(f"{what} at {url} cannot be fetched: {reason}") from exc


async def _read(response: httpx.Response, url: str, limit: int, what: str) -> tuple[bytes, float | None]:
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location", "?")
        raise ClientDocumentError(
            f"{what} at {url} answered with a redirect (HTTP {status} to {location[:200]}); "
            "redirects are not followed: serve it at the URL itself"
        )
    if status != 200:
        raise ClientDocumentError(f"{what} at {url} answered HTTP {status}, not 200")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ClientDocumentError(f"{what} at {url} is larger than {limit} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise ClientDocumentError(f"{what} at {url} is larger than {limit} bytes")
    return bytes(body), freshness(response.headers)


def _key_set(data: Any, what: str) -> jwt.PyJWKSet:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ClientDocumentError(f"{what} is not a JSON Web Key Set")
    # A published symmetric key would let anyone sign as the client: only public keys count.
    public = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "OKP")]
    try:
        return jwt.PyJWKSet.from_dict({"keys": public})
    except (jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
        raise ClientDocumentError(f"{what} has no usable keys: {exc}") from exc
