"""The tool surface: connector tools as MCP sees them, with argument validation and dispatch."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import jsonschema_rs
import mcp_types as types
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from mcp.shared.exceptions import MCPError

from bridgehead.connectors.base import CallContext, Tool, ToolError, ToolOutput

logger = logging.getLogger(__name__)


def _describe_schema_error(error: SchemaError) -> str:
    """A one-line message naming the argument at fault."""
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required argument '{missing}'"
    if error.validator == "additionalProperties":
        return f"unexpected argument: {error.message.split('(')[-1].rstrip(')')}"
    path = ".".join(str(p) for p in error.absolute_path)
    return f"invalid argument '{path}': {error.message}" if path else f"invalid arguments: {error.message}"


def _fast_check(schema: dict[str, Any]) -> Any:
    """A compiled validator that only answers valid or not, or None when it cannot take this schema.

    Deliberately not the reference ``jsonschema`` package for the common case: that one costs tens of
    microseconds per call, a large share of a whole tools/call. Formats stay annotations, as there; when
    arguments fail, ``jsonschema`` finds the error to report (tests/protocol/test_argument_validation.py
    checks both agree).
    """
    if _fractional_multiple_of(schema):
        return None  # the two disagree on float remainders (0.3 is a multiple of 0.1 only for one of them)
    try:
        # offline: a schema's remote $ref is never fetched (jsonschema does not fetch them either).
        return jsonschema_rs.Draft202012Validator(schema, validate_formats=False, offline=True)
    except Exception:
        return None


def _fractional_multiple_of(node: Any) -> bool:
    if isinstance(node, dict):
        step = node.get("multipleOf")
        if isinstance(step, float) and not step.is_integer():
            return True
        return any(_fractional_multiple_of(value) for value in node.values())
    if isinstance(node, list):
        return any(_fractional_multiple_of(value) for value in node)
    return False


SchemesFor = Callable[[Tool], list[dict[str, Any]] | None]


class ToolSurface:
    """All tools the server exposes, in a stable order, with their validators."""

    def __init__(self, tools: Sequence[Tool], security_schemes: SchemesFor | None = None) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._validators = {tool.name: Draft202012Validator(tool.input_schema) for tool in tools}
        self._checks = {tool.name: _fast_check(tool.input_schema) for tool in tools}
        self.listing = [
            to_mcp_tool(tool, security_schemes(tool) if security_schemes else None) for tool in tools
        ]
        self._listed = dict(zip(self._tools, self.listing, strict=True))

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def listed(self, name: str) -> types.Tool:
        """The wire description of one tool."""
        return self._listed[name]

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def wire(self) -> list[dict[str, Any]]:
        """The tools/list payload as JSON-ready dicts."""
        return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in self.listing]

    def fingerprint(self) -> str:
        """A stable hash of the tool list as clients see it; changes whenever the surface does."""
        return hashlib.sha256(orjson.dumps(self.wire(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def validate(self, name: str, arguments: dict[str, Any] | None) -> tuple[Tool, dict[str, Any]]:
        """The tool and its arguments, or an MCPError(INVALID_PARAMS) naming what is wrong."""
        tool = self._tools.get(name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name!r}")
        args = arguments or {}
        check = self._checks[name]
        if check is not None and check.is_valid(args):
            return tool, args
        error = next(iter(sorted(self._validators[name].iter_errors(args), key=lambda e: e.path)), None)
        if error is not None:
            raise MCPError(types.INVALID_PARAMS, f"Tool {name!r}: {_describe_schema_error(error)}")
        return tool, args

    async def call(
        self, name: str, arguments: dict[str, Any] | None, ctx: CallContext
    ) -> types.CallToolResult:
        """Validate and run a tool; a ToolError becomes a result with isError=true."""
        return tool_result(await self.run(name, arguments, ctx))

    async def run(self, name: str, arguments: dict[str, Any] | None, ctx: CallContext) -> ToolOutput:
        """Validate and run a tool, giving its output; a ToolError or a failure becomes an error output."""
        tool, args = self.validate(name, arguments)
        try:
            return await tool.handler(args, ctx)
        except ToolError as exc:
            return ToolOutput(str(exc), is_error=True)
        except MCPError:
            raise
        except Exception:
            logger.exception("tool %s failed", name)
            return ToolOutput(f"Tool {name!r} failed with an internal error.", is_error=True)


def tool_result(output: ToolOutput) -> types.CallToolResult:
    """The MCP result for a tool's output."""
    content = (
        list(output.content)
        if output.content is not None
        else [types.TextContent(type="text", text=output.text)]
    )
    return types.CallToolResult(
        content=content, structured_content=output.structured, is_error=output.is_error
    )


def _text_only_dump_shape() -> tuple[bool, Any]:
    """Whether the SDK dumps a text-only result as ``plain_result_dump`` builds it, and its resultType."""
    dumped = tool_result(ToolOutput("x", is_error=True)).model_dump(
        by_alias=True, mode="json", exclude_none=True
    )
    result_type = dumped.get("resultType")
    expected = {"content": [{"type": "text", "text": "x"}], "isError": True, "resultType": result_type}
    same_order = list(dumped) == list(expected) and list(dumped["content"][0]) == ["type", "text"]
    return dumped == expected and same_order, result_type


_TEXT_ONLY_DUMPS, _RESULT_TYPE = _text_only_dump_shape()


def plain_result_dump(output: ToolOutput) -> dict[str, Any] | None:
    """``tool_result(output).model_dump(by_alias=True, mode="json", exclude_none=True)`` for an output of
    text alone, built without the models (a tenth of the cost); None for any other output.

    ``tests/protocol/test_wire_shapes.py`` compares the two; the shortcut is off if an SDK release dumps
    a text-only result differently.
    """
    if not _TEXT_ONLY_DUMPS or output.content is not None or output.structured is not None:
        return None
    if type(output.text) is not str or type(output.is_error) is not bool:
        return None
    return {
        "content": [{"type": "text", "text": output.text}],
        "isError": output.is_error,
        "resultType": _RESULT_TYPE,
    }


def to_mcp_tool(tool: Tool, security_schemes: list[dict[str, Any]] | None = None) -> types.Tool:
    """The MCP wire description of a tool, with every hint set explicitly.

    ``security_schemes`` go in ``_meta.securitySchemes``, where ChatGPT reads per-tool auth
    requirements (the SDK strips unknown top-level tool fields).
    """
    meta = dict(tool.meta)
    if security_schemes is not None:
        meta["securitySchemes"] = security_schemes
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.hints.read_only,
            destructive_hint=tool.hints.destructive,
            idempotent_hint=tool.hints.idempotent,
            open_world_hint=tool.hints.open_world,
        ),
        _meta=meta or None,
    )
