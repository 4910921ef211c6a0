"""Typed settings: one TOML file, every key overridable by a ``BRIDGEHEAD_…`` environment variable.

Precedence, highest first: command-line overrides, environment variables
(``BRIDGEHEAD_SERVER__PORT=9000``), secret files in ``$BRIDGEHEAD_SECRETS_DIR``
(``store__url`` holds ``store.url``), the TOML file, then the defaults below.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "BRIDGEHEAD_"
SECRETS_DIR_ENV = "BRIDGEHEAD_SECRETS_DIR"
CONFIG_FILE_ENV = "BRIDGEHEAD_CONFIG"
DEFAULT_MEMORY_IDLE_SECONDS = 60.0


class ConfigError(Exception):
    """A configuration problem, with the file and key it concerns."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class ConfigProblem:
    """One invalid setting: where it is and what is wrong with it."""

    location: str
    message: str
    file: Path | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.location or "(top level)"
        if self.file is not None:
            where = f"{self.file}:{self.line}: {where}" if self.line else f"{self.file}: {where}"
        return f"{where}: {self.message}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    """How the HTTP server listens and how it appears to the outside world."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_base_url: str | None = Field(
        default=None,
        description="The public HTTPS origin clients use (e.g. https://abc.ngrok.app). "
        "Every URL Bridgehead advertises is built from it.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDR ranges whose X-Forwarded-Proto/Host/For headers are trusted.",
    )
    dns_rebinding_protection: bool = True
    allowed_hosts: list[str] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    data_dir: Path = Path(".bridgehead")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = False

    @field_validator("public_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://mcp.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, values: list[str]) -> list[str]:
        for value in values:
            if value == "*":
                continue
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an IP address, a CIDR range or '*'") from exc
        return values


class MCPSettings(_Section):
    """The MCP endpoint: transports, sessions and limits."""

    server_name: str = "Bridgehead"
    instructions: str | None = Field(
        default=None, description="Server instructions shown to the model at initialization."
    )
    stateless: bool = Field(
        default=False, description="No sessions: every request stands alone (for load-balanced replicas)."
    )
    json_response: bool = Field(default=False, description="Answer POSTs with JSON instead of an SSE stream.")
    legacy_sse: bool = Field(default=True, description="Serve the legacy HTTP+SSE transport at /sse.")
    fast_path: bool = Field(
        default=True,
        description="Answer tools/call, tools/list and ping in JSON-response mode without the SDK's "
        "per-request machinery (same bytes on the wire).",
    )
    session_idle_timeout: float = Field(
        default=1800.0,
        gt=0,
        description="A session with no request for this long ends: its id answers 404 and the client "
        "initializes again.",
    )
    session_memory_idle_seconds: float | None = Field(
        default=None,
        gt=0,
        description="An idle session leaves memory after this long but stays valid in the store until "
        "session_idle_timeout: its next request re-opens it. Default: 60, or session_idle_timeout when "
        "shorter.",
    )
    max_sessions: int = Field(
        default=10_000, gt=0, description="Sessions held in memory at once (idle ones are not held)."
    )
    max_request_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    event_store_max_events: int = Field(
        default=1000, ge=0, description="Events kept per stream for resumption; 0 disables resumability."
    )

    @field_validator("session_memory_idle_seconds")
    @classmethod
    def _within_idle_timeout(cls, value: float | None, info: ValidationInfo) -> float | None:
        timeout = info.data.get("session_idle_timeout")
        if value is not None and timeout is not None and value > timeout:
            raise ValueError(f"must not exceed session_idle_timeout ({timeout:g})")
        return value

    def memory_idle_seconds(self) -> float:
        """How long an idle stateful session stays in memory before only the store holds it."""
        if self.session_memory_idle_seconds is not None:
            return self.session_memory_idle_seconds
        return min(DEFAULT_MEMORY_IDLE_SECONDS, self.session_idle_timeout)


class StoreSettings(_Section):
    """Where Bridgehead keeps its state. Defaults to SQLite under server.data_dir."""

    url: SecretStr | None = Field(
        default=None,
        description="A SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://…",
    )
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class RoleSettings(_Section):
    """What users of one role may do."""

    description: str = ""
    tools: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Tool names or shell-style patterns this role may see and call.",
    )
    scopes: list[str] | None = Field(
        default=None, description="Scopes this role may be granted; unset means every advertised scope."
    )


class FederationSettings(_Section):
    """Login through the company's OpenID Connect provider (Okta, Entra ID, Keycloak, Google…)."""

    issuer: str = Field(
        description="The provider's issuer URL; its /.well-known/openid-configuration is read."
    )
    client_id: str
    client_secret: SecretStr | None = Field(
        default=None, description="Set it from the environment or a secret file."
    )
    display_name: str = "Single sign-on"
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    role_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Upstream group (or role claim value) → Bridgehead role; first match wins.",
    )
    default_role: str | None = Field(
        default=None, description="Role for federated users no mapping matches; unset refuses them."
    )
    allow_insecure_http: bool = Field(
        default=False, description="Allow an http:// issuer (tests and labs only)."
    )


class AuthSettings(_Section):
    """Who may call what: the auth mode, Bridgehead's OAuth 2.1 authorization server and roles."""

    mode: Literal["none", "oauth", "mixed"] = Field(
        default="none",
        description="none: open; oauth: every MCP request needs a token; mixed: initialize and tools/list "
        "are open and each tool call follows that tool's security schemes.",
    )
    access_token_ttl: int = Field(default=900, ge=60, le=86_400, description="Seconds an access token lives.")
    refresh_token_ttl: int = Field(default=30 * 86_400, ge=300, description="Seconds a refresh token lives.")
    authorization_code_ttl: int = Field(default=300, ge=30, le=600)
    default_scopes: list[str] = Field(
        default_factory=lambda: ["tools:read", "tools:write", "offline_access"],
        description="Granted when a client asks for no scope (ChatGPT sends none on reconnect).",
    )
    tool_scopes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Tool name or pattern → scopes a call needs; default tools:read (read-only) or tools:write.",
    )
    noauth_tools: list[str] | None = Field(
        default=None,
        description="mixed mode: tools callable without a token (patterns); default: every read-only tool.",
    )
    default_role: str = "member"
    roles: dict[str, RoleSettings] = Field(
        default_factory=lambda: {
            "admin": RoleSettings(description="Every tool, every scope."),
            "member": RoleSettings(description="Every tool the connectors expose."),
            "reader": RoleSettings(description="Read-only tools.", scopes=["tools:read", "offline_access"]),
        }
    )
    local_login: bool = Field(default=True, description="Offer username/password login for local users.")
    federation: FederationSettings | None = None
    login_attempts: int = Field(
        default=10, ge=1, description="Failed logins allowed per account and per address…"
    )
    login_window: int = Field(default=900, ge=10, description="…within this many seconds.")
    session_secret: SecretStr | None = Field(
        default=None, description="Signs login cookies; generated and kept in the store when unset."
    )
    cimd_fetch_timeout: float = Field(
        default=5.0,
        gt=0,
        le=30,
        description="Seconds allowed to fetch a client's metadata document (a URL client_id) or its keys.",
    )
    cimd_allow_insecure_loopback: bool = Field(
        default=False,
        description="Accept client metadata documents served over http:// from a loopback address "
        "(local testing only; never in production).",
    )

    @model_validator(mode="after")
    def _roles_exist(self) -> AuthSettings:
        if self.default_role not in self.roles:
            raise ValueError(
                f"default_role {self.default_role!r} is not one of the roles ({', '.join(self.roles)})"
            )
        if self.federation is not None:
            for group, role in self.federation.role_mapping.items():
                if role not in self.roles:
                    raise ValueError(f"federation.role_mapping[{group!r}] names unknown role {role!r}")
            if self.federation.default_role is not None and self.federation.default_role not in self.roles:
                raise ValueError(f"federation.default_role {self.federation.default_role!r} is not a role")
        return self


class AuditSettings(_Section):
    """The audit trail of tool calls."""

    enabled: bool = True
    retention_days: int = Field(
        default=90, ge=0, description="Older events are deleted; 0 keeps them forever."
    )
    redact_fields: list[str] = Field(
        default_factory=lambda: [
            "password", "passwd", "secret", "token", "authorization", "api_key", "apikey", "access_key",
            "private_key", "client_secret", "cookie", "ssn", "cvv", "card_number", "credit_card",
        ],
        description="Argument/result keys whose values are replaced (case-insensitive substring match).",
    )  # fmt: skip
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="Extra regular expressions; matching text inside any string value is replaced.",
    )
    max_payload_bytes: int = Field(
        default=65_536, ge=1024, description="Longer arguments/results are truncated."
    )
    flush_interval_ms: float = Field(
        default=0.0, ge=0, le=1000, description="Extra wait for more calls to join a group commit (0: none)."
    )

    @field_validator("redact_patterns")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class Settings(BaseSettings):
    """All of Bridgehead's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        secrets_nested_delimiter="__",
        secrets_prefix="",
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    mcp: MCPSettings = Field(default_factory=MCPSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    connectors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Connector instances; each table needs a `type` and is validated by that connector.",
    )
    sample_corpus: bool = Field(
        default=True,
        description="With no connectors configured, serve the bundled sample corpus.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_data = _TOML_DATA.get(settings_cls, {})
        secrets = NestedSecretsSettingsSource(file_secret_settings)
        return (init_settings, env_settings, secrets, InitSettingsSource(settings_cls, toml_data))

    def store_url(self) -> str:
        """The store's connection URL, defaulting to a SQLite file in the data directory."""
        if self.store.url is not None:
            return self.store.url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.server.data_dir / 'bridgehead.db').resolve()}"

    def connector_configs(self) -> list[dict[str, Any]]:
        """The configured connectors, or the bundled sample corpus when none are configured."""
        if self.connectors or not self.sample_corpus:
            return self.connectors
        return [
            {
                "type": "documents",
                "name": "docs",
                "folders": [{"path": str(sample_corpus_path()), "name": "northwind"}],
            }
        ]


# The TOML payload for the load in progress; a plain module-level slot because
# pydantic-settings builds sources from the class, not the instance.
_TOML_DATA: dict[type[BaseSettings], dict[str, Any]] = {}


def sample_corpus_path() -> Path:
    """The bundled sample corpus shipped inside the package."""
    return Path(__file__).resolve().parent / "sample_corpus"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read the file: {exc.strerror}", path)]) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's decoder only puts the position in the message.
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError([ConfigProblem("", f"invalid TOML: {message}", path, line)]) from exc


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings from the TOML file (if any), secret files, the environment and overrides.

    Raises ConfigError listing every problem with its location.
    """
    env = os.environ if environ is None else environ
    if config_file is None and env.get(CONFIG_FILE_ENV):
        config_file = Path(env[CONFIG_FILE_ENV])
    toml_data = read_toml(config_file) if config_file is not None else {}
    secrets_dir = env.get(SECRETS_DIR_ENV)
    _TOML_DATA[Settings] = toml_data
    try:
        kwargs: dict[str, Any] = dict(overrides or {})
        if secrets_dir:
            kwargs["_secrets_dir"] = secrets_dir
        if environ is not None:
            # pydantic-settings reads os.environ; an explicit mapping is for tests and tools.
            with _patched_environ(environ):
                return Settings(**kwargs)
        return Settings(**kwargs)
    except ValidationError as exc:
        raise ConfigError(_problems_from(exc, config_file, toml_data)) from exc
    finally:
        _TOML_DATA.pop(Settings, None)


class _patched_environ:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._saved: dict[str, str] = {}

    def __enter__(self) -> None:
        self._saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self._environ)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self._saved)


def format_location(loc: Sequence[str | int]) -> str:
    """Render a pydantic error location as a TOML-style key path: ``connectors[0].folders``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems_from(
    exc: ValidationError, file: Path | None, toml_data: Mapping[str, Any]
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if isinstance(p, (str, int))]
        location = format_location(loc)
        in_file = file is not None and _present(toml_data, loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        problems.append(
            ConfigProblem(
                location,
                message,
                file if in_file else None,
                find_key_line(file, loc) if in_file and file is not None else None,
            )
        )
    return problems


def _present(data: Any, loc: Sequence[str | int]) -> bool:
    for part in loc:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return False
    return True


def find_key_line(file: Path, loc: Sequence[str | int]) -> int | None:
    """Best-effort line number of a key in a TOML file, for error messages."""
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    leaf = names[-1]
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith((f"{leaf} ", f"{leaf}=")) or stripped in (
            f"[{'.'.join(names)}]",
            f"[[{leaf}]]",
        ):
            return number
    return None
