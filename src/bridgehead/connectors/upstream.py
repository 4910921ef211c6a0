"""The upstream MCP connector: re-export another MCP server's tools (Streamable HTTP, SSE or stdio).

Bridgehead holds one client session to the upstream server, with credentials
kept server-side (the caller's own token is never forwarded). The session is
supervised: when the upstream disappears its tools stay listed but report
"unavailable", and they come back when it does, without a restart. The last
tool list seen is cached in the data directory so the surface is the same
across restarts even while the upstream is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import warnings
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import httpx2
import mcp_types as types
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import Field, model_validator

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
from bridgehead.connectors.schema_keywords import SUBSCHEMA, SUBSCHEMA_LISTS, SUBSCHEMA_MAPS

logger = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


class UpstreamConfig(ConnectorConfig):
    """Settings of an upstream MCP connector."""

    type: Literal["upstream"] = "upstream"
    url: str | None = Field(default=None, description="The upstream's MCP endpoint (http or https).")
    transport: Literal["streamable-http", "sse", "stdio"] = "streamable-http"
    command: str | None = Field(default=None, description="stdio: the program to start.")
    args: list[str] = Field(default_factory=list)
    env_passthrough: list[str] = Field(
        default_factory=list, description="stdio: environment variables to pass on."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Static, non-secret headers.")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="Header name → environment variable holding its (secret) value."
    )
    bearer_token_env: str | None = Field(
        default=None, description="Environment variable holding a bearer token."
    )
    allow: list[str] = Field(
        default_factory=lambda: ["*"], description="Upstream tool names or patterns to expose."
    )
    deny: list[str] = Field(default_factory=list)
    timeout: float = Field(default=30.0, gt=0, le=600)
    ping_interval: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _target(self) -> UpstreamConfig:
        if self.transport == "stdio":
            if not self.command:
                raise ValueError("transport 'stdio' needs `command`")
        elif not self.url or not self.url.startswith(("http://", "https://")):
            raise ValueError(f"transport {self.transport!r} needs an http(s) `url`")
        return self


def _hints(annotations: types.ToolAnnotations | None) -> ToolHints:
    """The upstream's hints, with MCP's cautious defaults where it says nothing."""
    read_only = bool(annotations and annotations.read_only_hint)
    destructive = (
        annotations.destructive_hint
        if annotations and annotations.destructive_hint is not None
        else not read_only
    )
    return ToolHints(
        read_only=read_only,
        destructive=bool(destructive) and not read_only,
        idempotent=bool(annotations and annotations.idempotent_hint),
        open_world=True
        if not annotations or annotations.open_world_hint is None
        else annotations.open_world_hint,
    )


# -- schemas as JSON Schema 2020-12 --------------------------------------------------------------
#
# MCP tool schemas are JSON Schema 2020-12 (the default dialect since MCP 2025-11-25), and ChatGPT
# refuses a tool whose schema uses older forms. Upstream servers written against draft-07 or
# draft-04 still send them; the relay rewrites each to its 2020-12 equivalent.

_SUBSCHEMA = SUBSCHEMA
_SUBSCHEMA_LISTS = SUBSCHEMA_LISTS
_SUBSCHEMA_MAPS = (*SUBSCHEMA_MAPS, "$defs")


def _ref_2020_12(ref: str) -> str:
    return "#/$defs/" + ref[len("#/definitions/") :] if ref.startswith("#/definitions/") else ref


def _schema_2020_12(schema: Any) -> Any:
    """One schema (and everything under it) with draft-04/06/07 forms rewritten to 2020-12."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k not in ("$schema", "definitions", "dependencies")}
    if isinstance(schema.get("definitions"), dict):
        out["$defs"] = {**schema["definitions"], **(schema.get("$defs") or {})}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = _ref_2020_12(out["$ref"])
    if isinstance(schema.get("id"), str) and "$id" not in schema:
        del out["id"]  # draft-04's id: as a 2020-12 $id a fragment would be invalid; nothing here resolves it
    # Array-form items (a tuple) is prefixItems; additionalItems then says what may follow.
    if isinstance(schema.get("items"), list):
        out["prefixItems"] = schema["items"]
        out.pop("items")
        if "additionalItems" in schema:
            out["items"] = schema["additionalItems"]
    out.pop("additionalItems", None)
    # draft-04's boolean exclusive bounds qualify minimum/maximum.
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), bool):
            if schema[bound] and limit in schema:
                out[bound] = out.pop(limit)
            else:
                del out[bound]
    dependencies = schema.get("dependencies")
    if isinstance(dependencies, dict):
        required = {k: v for k, v in dependencies.items() if isinstance(v, list)}
        schemas = {k: v for k, v in dependencies.items() if not isinstance(v, list)}
        if required:
            out["dependentRequired"] = {**required, **(schema.get("dependentRequired") or {})}
        if schemas:
            out["dependentSchemas"] = {**schemas, **(schema.get("dependentSchemas") or {})}
    for key in _SUBSCHEMA:
        if key in out:
            out[key] = _schema_2020_12(out[key])
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_schema_2020_12(sub) for sub in out[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _schema_2020_12(sub) for name, sub in out[key].items()}
    return out


def schema_2020_12(schema: dict[str, Any], *, tool: str, kind: str) -> dict[str, Any] | None:
    """An upstream tool's input or output schema as valid JSON Schema 2020-12.

    A ``$schema`` naming another dialect is dropped (2020-12 is the default); one that is still
    not valid 2020-12 after the rewrite is replaced — an input schema by an open object (the
    upstream validates the arguments itself), an output schema by none — with a warning.
    """
    converted: dict[str, Any] = _schema_2020_12(schema)
    try:
        Draft202012Validator.check_schema(converted)
    except SchemaError as exc:
        logger.warning(
            "upstream tool %s: its %s schema is not valid JSON Schema (%s); relaying a plain one",
            tool,
            kind,
            exc.message,
        )
        return {"type": "object"} if kind == "input" else None
    return converted


class UpstreamConnector(Connector):
    """Tools of another MCP server, relayed."""

    type_name = "upstream"
    config_model = UpstreamConfig
    gates_readiness = False

    def __init__(self, config: ConnectorConfig, context: ConnectorContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, UpstreamConfig)
        self.settings = config
        self.cache_file = context.settings.server.data_dir / "upstream" / f"{config.name}.json"
        self._definitions: list[dict[str, Any]] = self._read_cache()
        self._client: Client | None = None
        self._connected = asyncio.Event()
        self._broken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- cache -----------------------------------------------------------------------------

    def _read_cache(self) -> list[dict[str, Any]]:
        try:
            cached = orjson.loads(self.cache_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return []
        return cached if isinstance(cached, list) else []

    def _write_cache(self, definitions: list[dict[str, Any]]) -> None:
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(definitions, option=orjson.OPT_SORT_KEYS))
        os.replace(tmp, self.cache_file)

    # -- connection ------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        settings = self.settings
        headers = dict(settings.headers)
        for header, variable in settings.headers_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise RuntimeError(f"environment variable {variable} (header {header}) is not set")
            headers[header] = value
        if settings.bearer_token_env:
            token = os.environ.get(settings.bearer_token_env)
            if token is None:
                raise RuntimeError(f"environment variable {settings.bearer_token_env} is not set")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[Client]:
        """A connected client session to the upstream, over its configured transport."""
        settings = self.settings
        options: dict[str, Any] = {"mode": "legacy", "read_timeout_seconds": settings.timeout}
        if settings.transport == "stdio":
            env = {name: os.environ[name] for name in settings.env_passthrough if name in os.environ}
            parameters = StdioServerParameters(
                command=settings.command or "", args=settings.args, env=env or None
            )
            async with Client(parameters, **options) as client:
                yield client
            return
        assert settings.url is not None
        if settings.transport == "sse":
            async with Client(
                sse_client(settings.url, headers=self._headers(), timeout=settings.timeout), **options
            ) as client:
                yield client
            return
        async with (
            httpx2.AsyncClient(
                headers=self._headers(), timeout=httpx2.Timeout(settings.timeout), follow_redirects=False
            ) as http,
            Client(streamable_http_client(settings.url, http_client=http), **options) as client,
        ):
            yield client

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name=f"bridgehead-upstream-{self.name}")
        # Give a reachable upstream a moment, so the first tools/list already has its tools.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=min(self.settings.timeout, 10.0))

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def ready(self) -> bool:
        return self._client is not None

    async def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping:
            try:
                async with self._open() as client:
                    definitions = await self._list(client)
                    self._client = client
                    self._broken.clear()
                    self._connected.set()
                    backoff = 1.0
                    logger.info("upstream %s connected: %d tools", self.name, len(definitions))
                    await self._adopt(definitions)
                    await self._watch(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an upstream failure of any kind means: reconnect
                logger.warning("upstream %s unavailable: %s", self.name, _describe(exc))
            finally:
                self._client = None
                self._connected.clear()
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _list(self, client: Client) -> list[dict[str, Any]]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return [
            t.model_dump(mode="json", by_alias=True, exclude_none=True)
            for t in tools
            if self._exposed(t.name)
        ]

    async def _watch(self, client: Client) -> None:
        """Ping until the session fails or a call reports it broken."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._broken.wait(), timeout=self.settings.ping_interval)
            if self._broken.is_set():
                raise ConnectionError("a call found the upstream session broken")
            with warnings.catch_warnings():
                # ping is deprecated only in the 2026-07-28 envelope; this session is handshake-era.
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await asyncio.wait_for(client.send_ping(), timeout=self.settings.timeout)

    async def _adopt(self, definitions: list[dict[str, Any]]) -> None:
        if definitions == self._definitions:
            return
        self._definitions = definitions
        self._write_cache(definitions)
        if self.context.tools_changed is not None:
            await self.context.tools_changed()

    def _exposed(self, name: str) -> bool:
        allowed = any(fnmatch.fnmatchcase(name, p) for p in self.settings.allow)
        return allowed and not any(fnmatch.fnmatchcase(name, p) for p in self.settings.deny)

    # -- tools -----------------------------------------------------------------------------

    def tools(self) -> Sequence[Tool]:
        return [self._tool(d) for d in self._definitions]

    def _tool(self, definition: dict[str, Any]) -> Tool:
        upstream = types.Tool.model_validate(definition)
        name = upstream.name

        async def handler(arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
            return await self._call(name, arguments)

        return Tool(
            name=name,
            title=upstream.title or (upstream.annotations.title if upstream.annotations else None) or name,
            description=upstream.description or f"{name} (from the {self.name} MCP server)",
            input_schema=schema_2020_12(dict(upstream.input_schema), tool=name, kind="input")
            or {"type": "object"},
            output_schema=(
                schema_2020_12(dict(upstream.output_schema), tool=name, kind="output")
                if upstream.output_schema
                else None
            ),
            hints=_hints(upstream.annotations),
            handler=handler,
        )

    async def _call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        client = self._client
        if client is None:
            raise ToolError(f"The {self.name} MCP server is unavailable right now; try again shortly.")
        try:
            result = await asyncio.wait_for(client.call_tool(name, arguments), timeout=self.settings.timeout)
        except TimeoutError as exc:
            raise ToolError(
                f"The {self.name} MCP server did not answer within {self.settings.timeout:g} s."
            ) from exc
        except Exception as exc:
            from mcp.shared.exceptions import MCPError

            if isinstance(exc, MCPError):
                raise ToolError(f"The {self.name} MCP server refused the call: {exc.error.message}") from exc
            self._broken.set()
            raise ToolError(f"The {self.name} MCP server is unavailable right now: {_describe(exc)}") from exc
        if not isinstance(result, types.CallToolResult):
            raise ToolError(f"The {self.name} MCP server asked for input Bridgehead cannot relay.")
        text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
        return ToolOutput(
            text=text,
            structured=result.structured_content,
            content=list(result.content),
            is_error=bool(result.is_error),
        )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
