"""The openapi connector: the operations of an OpenAPI 3.0 or 3.1 document as MCP tools.

.. code-block:: toml

    [[connectors]]
    type = "openapi"
    name = "tickets"
    spec = "https://tickets.internal.example.com/openapi.json"   # or a file path; JSON or YAML
    include_tags = ["tickets"]
    auth = { type = "header", name = "X-API-Key", value_env = "TICKETS_API_KEY" }

    [connectors.overrides.searchTickets]   # an operationId, or "POST /tickets/search"
    read_only = true

Each selected operation becomes one tool whose arguments are its parameters plus a
``body``; the result is ``{"status", "headers", "body"}``. The request goes through
an SSRF guard (:mod:`bridgehead.ssrf`), within ``timeout`` seconds, retried when idempotent.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bridgehead.config import ConfigError, ConfigProblem
from bridgehead.connectors.base import (
    CallContext,
    Connector,
    ConnectorConfig,
    ConnectorContext,
    Tool,
    ToolError,
    ToolHints,
    ToolOutput,
)
from bridgehead.connectors.openapi.backend import BackendClient, BackendError
from bridgehead.connectors.openapi.backend_auth import AuthConfig, SecretError, build_auth, redact
from bridgehead.connectors.openapi.operations import (
    MAX_TOOL_NAME,
    Operation,
    build_request,
    default_description,
    default_hints,
    default_title,
    find,
    read_operations,
    select,
    tool_names,
)
from bridgehead.connectors.openapi.parameters import ParameterError
from bridgehead.connectors.openapi.results import OUTPUT_SCHEMA, failure_message, success_output
from bridgehead.connectors.openapi.spec import OpenAPIDocument, SpecError, load_document
from bridgehead.ssrf import AddressGuard, ssl_context

__all__ = ["OpenAPIConfig", "OpenAPIConnector", "OperationOverride"]

logger = logging.getLogger(__name__)

DEFAULT_RESPONSE_HEADERS = [
    "content-type",
    "content-length",
    "content-range",
    "location",
    "etag",
    "last-modified",
    "retry-after",
    "link",
    "x-request-id",
    "x-total-count",
    "ratelimit-remaining",
    "x-ratelimit-remaining",
]


class OperationOverride(BaseModel):
    """What to change about one operation's tool; unset fields keep what the spec implies."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    title: str | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, min_length=1)
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = Field(
        default=None, description="Also decides whether failed calls are retried."
    )
    open_world: bool | None = None


class OpenAPIConfig(ConnectorConfig):
    """Settings of an openapi connector."""

    type: Literal["openapi"] = "openapi"
    spec: str = Field(
        min_length=1, description="Path or http(s) URL of an OpenAPI 3.0/3.1 document, JSON or YAML."
    )
    base_url: str | None = Field(
        default=None, description="Where the API is; default: the spec's first server."
    )
    include_tags: list[str] = Field(
        default_factory=list, description="Offer operations with any of these tags."
    )
    include_operations: list[str] = Field(
        default_factory=list, description='Offer these operations (operationId or "METHOD /path").'
    )
    include_paths: list[str] = Field(
        default_factory=list, description="Offer operations whose path matches a glob (e.g. /tickets*)."
    )
    exclude_operations: list[str] = Field(default_factory=list, description="Never offer these operations.")
    overrides: dict[str, OperationOverride] = Field(
        default_factory=dict, description='Per operation (operationId or "METHOD /path"): name, title, hints.'
    )
    auth: AuthConfig | None = None
    timeout: float = Field(
        default=15.0, gt=0, le=300, description="Seconds a call may take, retries included."
    )
    max_response_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts for idempotent calls.")
    retry_backoff: float = Field(
        default=0.5, ge=0, le=30, description="Seconds before the first retry; doubles."
    )
    allow_private_network: bool = Field(
        default=False, description="Allow loopback and private addresses (never link-local or multicast)."
    )
    ca_file: Path | None = Field(default=None, description="CA bundle for a backend with a private CA.")
    response_headers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RESPONSE_HEADERS),
        description="Response headers included in results.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value


class OpenAPIConnector(Connector):
    """Offers the operations of an OpenAPI document as tools that call the API."""

    type_name = "openapi"
    config_model = OpenAPIConfig

    def __init__(self, config: ConnectorConfig, context: ConnectorContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, OpenAPIConfig)
        self.settings: OpenAPIConfig = config
        where = f"connectors.{config.name}"
        ca_file = str(config.ca_file.expanduser()) if config.ca_file is not None else None
        try:
            ssl_context(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError([ConfigProblem(f"{where}.ca_file", f"cannot load CA bundle: {exc}")]) from None
        guard = AddressGuard(config.allow_private_network)
        try:
            self.document: OpenAPIDocument = load_document(
                config.spec, guard=guard, timeout=config.timeout, ca_file=ca_file
            )
        except SpecError as exc:
            raise ConfigError([ConfigProblem(f"{where}.spec", str(exc))]) from None
        base_url = config.base_url or self.document.default_server()
        if base_url is None or not base_url.startswith(("https://", "http://")):
            raise ConfigError(
                [ConfigProblem(f"{where}.base_url", "the spec names no absolute server URL; set base_url")]
            )
        try:
            auth = build_auth(config.auth)
        except SecretError as exc:
            raise ConfigError([ConfigProblem(f"{where}.auth", str(exc))]) from None

        operations, warnings = read_operations(self.document, auth.header_name if auth else None)
        for warning in warnings:
            logger.warning("connector %s: %s", config.name, warning)
        self.operations = select(
            operations,
            include_tags=config.include_tags,
            include_operations=config.include_operations,
            include_paths=config.include_paths,
            exclude_operations=config.exclude_operations,
        )
        overrides, names = self._check_references(operations, where)
        self.backend = BackendClient(
            config.name,
            base_url,
            auth,
            guard,
            timeout=config.timeout,
            max_response_bytes=config.max_response_bytes,
            retries=config.retries,
            retry_backoff=config.retry_backoff,
            ca_file=ca_file,
        )
        self._tools = [self._tool(op, names[op.key], overrides.get(op.key)) for op in self.operations]
        logger.info(
            "connector %s: %d tools from %s (%s)",
            config.name,
            len(self._tools),
            self.document.title,
            base_url,
        )

    def _check_references(
        self, operations: Sequence[Operation], where: str
    ) -> tuple[dict[str, OperationOverride], dict[str, str]]:
        """The overrides by operation key and the tool names; ConfigError for names that match nothing."""
        config = self.settings
        problems: list[ConfigProblem] = []
        for key in ("include_operations", "exclude_operations"):
            for reference in getattr(config, key):
                if find(operations, reference) is None:
                    problems.append(
                        ConfigProblem(f"{where}.{key}", f"no callable operation {reference!r} in the spec")
                    )
        overrides: dict[str, OperationOverride] = {}
        for reference, override in config.overrides.items():
            op = find(operations, reference)
            if op is None:
                problems.append(
                    ConfigProblem(
                        f"{where}.overrides.{reference}", "no callable operation with this id in the spec"
                    )
                )
            else:
                overrides[op.key] = override
        max_length = MAX_TOOL_NAME - len(config.tool_prefix)
        chosen: dict[str, str] = {}
        selected = {op.key for op in self.operations}
        for key, override in overrides.items():
            if override.name is None or key not in selected:
                continue
            if len(override.name) > max_length:
                problems.append(
                    ConfigProblem(
                        f"{where}.overrides.{key}.name",
                        f"longer than {max_length} characters with the prefix",
                    )
                )
            elif override.name in chosen.values():
                problems.append(
                    ConfigProblem(f"{where}.overrides.{key}.name", f"{override.name!r} is already taken")
                )
            else:
                chosen[key] = override.name
        if problems:
            raise ConfigError(problems)
        return overrides, tool_names(self.operations, chosen, max_length)

    def _tool(self, op: Operation, name: str, override: OperationOverride | None) -> Tool:
        hints: ToolHints = default_hints(op.method)
        title = default_title(op)
        description = default_description(op, self.document.title)
        if override is not None:
            changed = {
                field: getattr(override, field)
                for field in ("read_only", "destructive", "idempotent", "open_world")
                if getattr(override, field) is not None
            }
            hints = replace(hints, **changed)
            title = override.title or title
            description = override.description or description

        async def handler(arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
            return await self.call(op, arguments, idempotent=hints.idempotent)

        return Tool(
            name=name,
            title=title,
            description=description,
            input_schema=op.input_schema,
            hints=hints,
            handler=handler,
            output_schema=OUTPUT_SCHEMA,
        )

    async def call(self, op: Operation, arguments: dict[str, Any], *, idempotent: bool) -> ToolOutput:
        """Call one operation with validated arguments; every failure is a ToolError."""
        try:
            request = build_request(op, arguments, idempotent=idempotent)
        except ParameterError as exc:
            raise ToolError(f"{op.label}: {exc}") from None
        try:
            response = await self.backend.send(request)
        except BackendError as exc:
            raise ToolError(redact(str(exc), self.backend.secrets())) from None
        secrets = self.backend.secrets()
        if not 200 <= response.status < 300:
            raise ToolError(failure_message(response, op.label, secrets))
        return success_output(
            response, self.settings.response_headers, secrets, self.settings.max_response_bytes
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def stop(self) -> None:
        await self.backend.aclose()

    def tools(self) -> Sequence[Tool]:
        return list(self._tools)
