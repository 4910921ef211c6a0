"""The Python function connector: plain functions in a module become tools.

Decorate functions with :func:`bridgehead.connectors.functions.tool`; type hints
become the input schema (through pydantic), the docstring the description,
and the decorator declares the annotations. A connector then points at the
module::

    [[connectors]]
    type = "functions"
    name = "ops"
    module = "acme_tools.ops"

A function may be sync (run in a worker thread) or async. Raising
:class:`~bridgehead.connectors.base.ToolError` reports a failure to the model.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_type_hints

import anyio
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

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

F = TypeVar("F", bound=Callable[..., Any])
MARKER = "__bridgehead_tool__"


@dataclass(frozen=True)
class ToolDeclaration:
    """What the decorator recorded about a function."""

    name: str | None
    title: str | None
    description: str | None
    hints: ToolHints


def tool(
    function: F | None = None,
    *,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    destructive: bool | None = None,
    idempotent: bool = False,
    open_world: bool = True,
) -> Any:
    """Mark a function as a Bridgehead tool.

    The annotations default to MCP's own defaults (a write that may be destructive and reaches the
    outside world), so a tool is treated cautiously unless its author says otherwise.
    """
    hints = ToolHints(
        read_only=read_only,
        destructive=(not read_only) if destructive is None else destructive,
        idempotent=idempotent,
        open_world=open_world,
    )

    def mark(fn: F) -> F:
        setattr(fn, MARKER, ToolDeclaration(name, title, description, hints))
        return fn

    return mark(function) if function is not None else mark


class FunctionsConfig(ConnectorConfig):
    """Settings of a Python function connector."""

    type: Literal["functions"] = "functions"
    module: str = Field(
        pattern=r"^[A-Za-z_][\w.]*$", description="Importable module holding decorated functions."
    )
    search_path: list[Path] = Field(default_factory=list, description="Folders to add to sys.path first.")
    include: list[str] | None = Field(default=None, description="Only these function names.")


# Parameter types whose JSON values pydantic hands over unchanged when they already have exactly that type.
_PLAIN_TYPES = (str, int, float, bool)
_REQUIRED = object()
PlainParameters = dict[str, tuple[type, Any]]


def _plain_parameters(function: Callable[..., Any]) -> PlainParameters | None:
    """Each parameter's type and default when all are plain str/int/float/bool, else None."""
    hints = get_type_hints(function)
    plain: PlainParameters = {}
    for parameter in inspect.signature(function).parameters.values():
        annotation = hints.get(parameter.name, Any)
        if annotation is CallContext:
            continue
        if annotation not in _PLAIN_TYPES or isinstance(parameter.default, FieldInfo):
            return None
        default = _REQUIRED if parameter.default is inspect.Parameter.empty else parameter.default
        plain[parameter.name] = (annotation, default)
    return plain


def _plain_arguments(arguments: dict[str, Any], plain: PlainParameters) -> dict[str, Any] | None:
    """The keyword arguments pydantic would produce, when every value already has its exact type.

    None sends the call through the model (coercion, defaults of other kinds, error messages).
    """
    if not arguments.keys() <= plain.keys():
        return None
    kwargs: dict[str, Any] = {}
    for name, (kind, default) in plain.items():
        if name in arguments:
            value = arguments[name]
            if type(value) is not kind:
                return None
        elif default is _REQUIRED:
            return None
        else:
            value = default
        kwargs[name] = value
    return kwargs


def _schema_model(function: Callable[..., Any]) -> tuple[type[BaseModel], str | None]:
    """A pydantic model of the function's parameters, and the name of a CallContext parameter if any."""
    signature = inspect.signature(function)
    hints = get_type_hints(function)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"{function.__qualname__}: *args/**kwargs cannot be described as tool arguments")
        annotation = hints.get(parameter.name, Any)
        if annotation is CallContext:
            context_param = parameter.name
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    model = create_model(  # type: ignore[call-overload]
        f"{function.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model, context_param


def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema


def _output(value: Any) -> ToolOutput:
    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return ToolOutput(orjson.dumps(value, default=str).decode(), value)
    if isinstance(value, str):
        return ToolOutput(value)
    payload = {"result": value}
    return ToolOutput(
        orjson.dumps(payload, default=str).decode(), orjson.loads(orjson.dumps(payload, default=str))
    )


def tool_from_function(function: Callable[..., Any]) -> Tool:
    """Describe one decorated function as a Tool."""
    declaration: ToolDeclaration = getattr(function, MARKER)
    model, context_param = _schema_model(function)
    doc = inspect.getdoc(function) or ""
    name = declaration.name or function.__name__
    description = declaration.description or doc or f"Run {name}."
    title = declaration.title or (
        doc.splitlines()[0].rstrip(".") if doc else name.replace("_", " ").capitalize()
    )
    is_async = inspect.iscoroutinefunction(function)
    plain = _plain_parameters(function)

    async def handler(arguments: dict[str, Any], ctx: CallContext) -> ToolOutput:
        # The schema check already ran; for plain parameters pydantic would change nothing.
        kwargs = _plain_arguments(arguments, plain) if plain is not None else None
        if kwargs is None:
            try:
                parsed = model.model_validate(arguments)
            except ValidationError as exc:
                raise ToolError(
                    f"invalid arguments: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
                ) from exc
            kwargs = {key: getattr(parsed, key) for key in type(parsed).model_fields}
        if context_param is not None:
            kwargs[context_param] = ctx
        if is_async:
            value = await function(**kwargs)
        else:
            value = await anyio.to_thread.run_sync(lambda: function(**kwargs))
        return _output(value)

    return Tool(
        name=name,
        title=title,
        description=description,
        input_schema=_json_schema(model),
        hints=declaration.hints,
        handler=handler,
    )


class FunctionsConnector(Connector):
    """Tools from the decorated functions of one Python module."""

    type_name = "functions"
    config_model = FunctionsConfig

    def __init__(self, config: ConnectorConfig, context: ConnectorContext) -> None:
        super().__init__(config, context)
        assert isinstance(config, FunctionsConfig)
        self.settings = config
        for folder in config.search_path:
            resolved = str(folder.expanduser().resolve())
            if resolved not in sys.path:
                sys.path.insert(0, resolved)
        try:
            module = importlib.import_module(config.module)
        except ImportError as exc:
            from bridgehead.config import ConfigError, ConfigProblem

            raise ConfigError(
                [ConfigProblem(f"connectors.{config.name}.module", f"cannot import {config.module!r}: {exc}")]
            ) from exc
        functions = [
            value
            for _, value in inspect.getmembers(module, callable)
            if hasattr(value, MARKER) and (config.include is None or value.__name__ in config.include)
        ]
        # Source order keeps the tool surface stable across restarts.
        functions.sort(
            key=lambda f: (inspect.getsourcelines(f)[1] if inspect.isfunction(f) else 0, f.__name__)
        )
        self._tools = [tool_from_function(f) for f in functions]

    def tools(self) -> Sequence[Tool]:
        return self._tools
