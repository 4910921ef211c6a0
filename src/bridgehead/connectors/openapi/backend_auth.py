"""How the connector authenticates to the backend API.

Three kinds, chosen by ``auth.type``: a static ``header`` (an API key), HTTP
``basic``, and OAuth 2.0 ``oauth2_client_credentials`` (RFC 6749 §4.4; the token
is cached until shortly before it expires, and dropped when the backend answers
401). Secrets are read from an environment variable (``*_env``) or a file
(``*_file``), never from the configuration file itself; they are read once, when
the connector is built, and :func:`redact` keeps them out of every result.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote_plus

import anyio
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


class SecretError(Exception):
    """A configured secret cannot be read."""


class TokenError(Exception):
    """The OAuth token endpoint did not issue a usable token."""


def read_secret(env: str | None, file: Path | None) -> str:
    """The secret in an environment variable or a file (one trailing newline removed)."""
    if env is not None:
        value = os.environ.get(env, "")
        if not value:
            raise SecretError(f"environment variable {env} is not set or empty")
        return value
    assert file is not None
    try:
        value = file.expanduser().read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read secret file {file}: {exc}") from exc
    if not value:
        raise SecretError(f"secret file {file} is empty")
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of four characters or more) replaced by ``[redacted]``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


# -- configuration ---------------------------------------------------------------------------


class _AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret_key: ClassVar[str]
    """The secret's name: the config has ``<secret_key>_env`` and ``<secret_key>_file``."""

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and cls.secret_key in data:
            key = cls.secret_key
            raise ValueError(
                f"`{key}` cannot be written in the configuration file; "
                f"name an environment variable with `{key}_env` or a file with `{key}_file`"
            )
        return data

    @model_validator(mode="after")
    def _one_source(self) -> _AuthConfig:
        env = getattr(self, f"{self.secret_key}_env")
        file = getattr(self, f"{self.secret_key}_file")
        if (env is None) == (file is None):
            raise ValueError(f"set exactly one of `{self.secret_key}_env` and `{self.secret_key}_file`")
        return self

    def read(self) -> str:
        """The secret itself; raises SecretError when it is missing."""
        return read_secret(getattr(self, f"{self.secret_key}_env"), getattr(self, f"{self.secret_key}_file"))


class HeaderAuthConfig(_AuthConfig):
    """A static header on every request, typically an API key: ``X-API-Key: <secret>``."""

    secret_key: ClassVar[str] = "value"
    type: Literal["header"]
    name: str = Field(pattern=_HEADER_NAME, description="The header, e.g. X-API-Key or Authorization.")
    value_env: str | None = None
    value_file: Path | None = None


class BasicAuthConfig(_AuthConfig):
    """HTTP basic authentication (RFC 7617)."""

    secret_key: ClassVar[str] = "password"
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password_env: str | None = None
    password_file: Path | None = None

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("a basic-auth username cannot contain ':'")
        return value


class ClientCredentialsConfig(_AuthConfig):
    """OAuth 2.0 client credentials: a bearer token from ``token_url`` for this client."""

    secret_key: ClassVar[str] = "client_secret"
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str = Field(min_length=1)
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    scopes: list[str] = Field(default_factory=list)
    client_auth: Literal["basic", "body"] = Field(
        default="basic",
        description="How the client authenticates to the token endpoint: HTTP basic or form fields.",
    )

    @field_validator("token_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value


AuthConfig = Annotated[
    HeaderAuthConfig | BasicAuthConfig | ClientCredentialsConfig, Field(discriminator="type")
]


# -- credentials at work ---------------------------------------------------------------------


class BackendAuth:
    """Credentials for backend requests; subclasses implement :meth:`headers`."""

    header_name: str = "authorization"
    """The header this kind sets (lower case); operations cannot set it themselves."""

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        """The headers to add to a request (fetching a token through ``http`` when needed)."""
        raise NotImplementedError

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        """Forget credentials the backend refused with a 401; True when asking again may help."""
        return False

    def secrets(self) -> list[str]:
        """Every secret value this auth knows, for redaction."""
        return []


class HeaderAuth(BackendAuth):
    """A static header."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value
        self.header_name = name.lower()

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        return {self.name: self.value}

    def secrets(self) -> list[str]:
        return [self.value]


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class BasicAuth(BackendAuth):
    """HTTP basic."""

    def __init__(self, username: str, password: str) -> None:
        self._credentials = _basic(username, password)
        self._password = password

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        return {"Authorization": f"Basic {self._credentials}"}

    def secrets(self) -> list[str]:
        return [self._password, self._credentials]


class ClientCredentialsAuth(BackendAuth):
    """OAuth 2.0 client credentials with a cached bearer token."""

    def __init__(self, config: ClientCredentialsConfig, client_secret: str) -> None:
        self.config = config
        self._client_secret = client_secret
        self._token: str | None = None
        self._refresh_at: float | None = None
        self._lock: anyio.Lock | None = None

    def _valid(self) -> bool:
        return self._token is not None and (self._refresh_at is None or time.monotonic() < self._refresh_at)

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        if not self._valid():
            if self._lock is None:
                self._lock = anyio.Lock()
            async with self._lock:
                if not self._valid():
                    await self._fetch(http)
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        if self._token is not None and sent.get("authorization") == f"Bearer {self._token}":
            self._token = None
        return True

    def secrets(self) -> list[str]:
        found = [
            self._client_secret,
            _basic(quote_plus(self.config.client_id), quote_plus(self._client_secret)),
        ]
        if self._token is not None:
            found.append(self._token)
        return found

    async def _fetch(self, http: httpx.AsyncClient) -> None:
        form = {"grant_type": "client_credentials"}
        if self.config.scopes:
            form["scope"] = " ".join(self.config.scopes)
        headers = {"Accept": "application/json"}
        if self.config.client_auth == "basic":
            # RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
            headers["Authorization"] = "Basic " + _basic(
                quote_plus(self.config.client_id), quote_plus(self._client_secret)
            )
        else:
            form.update(client_id=self.config.client_id, client_secret=self._client_secret)
        url = self.config.token_url
        started = time.monotonic()
        try:
            async with http.stream("POST", url, data=form, headers=headers) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_TOKEN_RESPONSE_BYTES:
                        raise TokenError(f"the token endpoint {url} sent an oversized response")
        except httpx.TimeoutException as exc:
            raise TokenError(f"the token endpoint {url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise TokenError(f"cannot reach the token endpoint {url}: {exc or type(exc).__name__}") from exc
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        if response.status_code != 200:
            # Only the standard error fields (RFC 6749 §5.2) are shown, never the raw body.
            detail = " ".join(
                str(payload[key])[:200] for key in ("error", "error_description") if key in payload
            )
            raise TokenError(
                f"the token endpoint {url} refused the client credentials: HTTP {response.status_code}"
                + (f" ({detail})" if detail else "")
            )
        token = payload.get("access_token")
        token_type = str(payload.get("token_type", "bearer"))
        if not isinstance(token, str) or not token:
            raise TokenError(f"the token endpoint {url} answered without an access_token")
        if token_type.lower() != "bearer":
            raise TokenError(
                f"the token endpoint {url} issued a {token_type!r} token; only bearer is supported"
            )
        lifetime = payload.get("expires_in")
        self._token = token
        if isinstance(lifetime, (int, float, str)) and str(lifetime).replace(".", "", 1).isdigit():
            seconds = float(lifetime)
            # Refresh shortly before the token expires, so a request never carries a dying token.
            self._refresh_at = started + seconds - min(30.0, seconds * 0.1)
        else:
            self._refresh_at = None


def build_auth(
    config: HeaderAuthConfig | BasicAuthConfig | ClientCredentialsConfig | None,
) -> BackendAuth | None:
    """The credentials a config describes, with their secret read (SecretError when it cannot be)."""
    if config is None:
        return None
    secret = config.read()
    if isinstance(config, HeaderAuthConfig):
        return HeaderAuth(config.name, secret)
    if isinstance(config, BasicAuthConfig):
        return BasicAuth(config.username, secret)
    return ClientCredentialsAuth(config, secret)
