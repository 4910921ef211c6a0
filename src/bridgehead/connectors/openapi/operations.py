"""The operations of an OpenAPI document as tools: which ones, their names, input schemas and requests.

An operation's input schema has one flat property per path, query and header
parameter (named as in the spec; a clash is prefixed with the location) and a
``body`` property for the JSON, form or text request body. Operations the
connector cannot call (a required cookie, a multipart upload, an unresolvable
reference) are skipped with a warning instead of failing the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlencode

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from bridgehead.connectors.base import ToolHints
from bridgehead.connectors.openapi.backend import BackendRequest
from bridgehead.connectors.openapi.parameters import (
    ParameterError,
    header_value,
    path_value,
    query_pairs,
    scalar,
)
from bridgehead.connectors.openapi.schema import SchemaConverter
from bridgehead.connectors.openapi.spec import HTTP_METHODS, OpenAPIDocument, SpecError

MAX_TOOL_NAME = 64
MAX_DESCRIPTION_CHARS = 2000
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# OpenAPI: header parameters with these names are ignored; the client sets them itself.
_RESERVED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_LOCATION_ORDER = {"path": 0, "query": 1, "header": 2}
_FORM = "application/x-www-form-urlencoded"
ACCEPT = "application/json, text/plain;q=0.9, */*;q=0.8"


class UnsupportedOperation(Exception):
    """An operation the connector cannot call; it is left out of the tool list."""


def is_json_media(media: str) -> bool:
    media = media.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


@dataclass(frozen=True)
class Parameter:
    """A path, query or header parameter and the tool argument that carries it."""

    name: str
    location: str
    argument: str
    required: bool
    style: str
    explode: bool
    as_json: bool = False
    """Declared with ``content: application/json``: the value is sent as JSON text."""


@dataclass(frozen=True)
class RequestBody:
    media_type: str
    required: bool


@dataclass(frozen=True)
class Operation:
    """One operation of the document, ready to be offered as a tool."""

    method: str
    path: str
    operation_id: str | None
    tags: tuple[str, ...]
    summary: str
    description: str
    deprecated: bool
    parameters: tuple[Parameter, ...]
    body: RequestBody | None
    input_schema: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def key(self) -> str:
        """How configuration names it: the operationId, else ``METHOD /path``."""
        return self.operation_id or self.label

    def matches(self, reference: str) -> bool:
        """True for its operationId or its ``METHOD /path`` (method in any case)."""
        if reference == self.operation_id:
            return True
        method, _, path = reference.strip().partition(" ")
        return method.upper() == self.method and path.strip() == self.path


# -- reading the document --------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _parameter_schema(document: OpenAPIDocument, raw: dict[str, Any]) -> tuple[Any, bool]:
    """The schema of a parameter and whether its value travels as JSON text (``content``)."""
    if "schema" in raw:
        return raw["schema"], False
    content = raw.get("content")
    if isinstance(content, dict) and content:
        media, spec = next(iter(content.items()))
        schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
        return schema, is_json_media(str(media))
    return {}, False


def _choose_body(content: Mapping[str, Any]) -> str | None:
    """The media type to send: JSON first, then a form, then plain text."""
    for media in content:
        if is_json_media(media):
            return str(media)
    for media in content:
        if media.split(";", 1)[0].strip().lower() in (_FORM, "text/plain"):
            return str(media)
    return None


def _describe(schema: Any, description: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """A property schema with the parameter's own description and flags added."""
    prop: dict[str, Any] = dict(schema) if isinstance(schema, dict) else ({} if schema else {"not": {}})
    if description:
        prop["description"] = description
    prop.update(extra)
    return prop


def read_operation(
    document: OpenAPIDocument,
    path: str,
    method: str,
    raw: Mapping[str, Any],
    shared: Sequence[Any] = (),
    auth_header: str | None = None,
) -> Operation:
    """One operation as an Operation; raises SpecError or UnsupportedOperation."""
    converter = SchemaConverter(document)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    own = raw.get("parameters")
    for item in [*shared, *(own if isinstance(own, list) else [])]:
        parameter = document.deref(item)
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise SpecError("a parameter has no name")
        merged[(parameter["name"], str(parameter.get("in")))] = parameter  # the operation's own win
    for name in re.findall(r"{([^}/]+)}", path):
        merged.setdefault((name, "path"), {"name": name, "in": "path", "required": True})

    body_raw = document.deref(raw["requestBody"]) if "requestBody" in raw else None
    body: RequestBody | None = None
    body_schema: Any = None
    if isinstance(body_raw, dict):
        declared = body_raw.get("content")
        content: dict[str, Any] = declared if isinstance(declared, dict) else {}
        media = _choose_body(content)
        if media is None:
            if body_raw.get("required") is True:
                kinds = ", ".join(map(str, content)) or "no content"
                raise UnsupportedOperation(f"its request body is {kinds}, which the connector cannot send")
        else:
            body = RequestBody(media, body_raw.get("required") is True)
            media_spec = content[media] if isinstance(content[media], dict) else {}
            body_schema = _describe(
                converter.convert(media_spec.get("schema", {})), _text(body_raw.get("description")), {}
            )

    taken = {"body"} if body is not None else set()
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[Parameter] = []
    ordered = sorted(merged.values(), key=lambda p: _LOCATION_ORDER.get(str(p.get("in")), 9))
    for parameter in ordered:
        name, location = parameter["name"], parameter.get("in")
        if location == "cookie":
            if parameter.get("required") is True:
                raise UnsupportedOperation(f"it needs the cookie parameter {name!r}")
            continue
        if location not in _LOCATION_ORDER:
            continue
        if location == "header" and name.lower() in (_RESERVED_HEADERS | {auth_header or ""}):
            continue
        argument = name if name not in taken else f"{location}_{name}"
        while argument in taken:
            argument += "_"
        taken.add(argument)
        schema, as_json = _parameter_schema(document, parameter)
        extra: dict[str, Any] = {}
        if parameter.get("deprecated") is True:
            extra["deprecated"] = True
        if "example" in parameter:
            extra["examples"] = [parameter["example"]]
        properties[argument] = _describe(
            converter.convert(schema), _text(parameter.get("description")), extra
        )
        is_required = location == "path" or parameter.get("required") is True
        if is_required:
            required.append(argument)
        default_style = {"path": "simple", "query": "form", "header": "simple"}[location]
        style = str(parameter.get("style") or default_style)
        explode = parameter.get("explode")
        parameters.append(
            Parameter(
                name=name,
                location=location,
                argument=argument,
                required=is_required,
                style=style,
                explode=explode if isinstance(explode, bool) else style == "form",
                as_json=as_json,
            )
        )
    if body is not None:
        properties["body"] = body_schema
        if body.required:
            required.append("body")

    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    input_schema["additionalProperties"] = False
    definitions = converter.definitions()
    if definitions:
        input_schema["$defs"] = definitions
    try:
        Draft202012Validator.check_schema(input_schema)
    except SchemaError as exc:
        raise SpecError(f"its input schema is not valid JSON Schema ({exc.message})") from exc

    tags = raw.get("tags")
    operation_id = raw.get("operationId")
    return Operation(
        method=method.upper(),
        path=path,
        operation_id=operation_id if isinstance(operation_id, str) and operation_id else None,
        tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
        summary=_text(raw.get("summary")),
        description=_text(raw.get("description")),
        deprecated=raw.get("deprecated") is True,
        parameters=tuple(parameters),
        body=body,
        input_schema=input_schema,
    )


def read_operations(
    document: OpenAPIDocument, auth_header: str | None = None
) -> tuple[list[Operation], list[str]]:
    """Every operation the connector can call, in document order, and a warning per one it cannot."""
    operations: list[Operation] = []
    warnings: list[str] = []
    for path, item in document.paths().items():
        if not isinstance(path, str) or not path.startswith("/"):
            continue
        try:
            item = document.deref(item)
        except SpecError as exc:
            warnings.append(f"{path}: {exc}; its operations are skipped")
            continue
        if not isinstance(item, dict):
            continue
        declared = item.get("parameters")
        shared: list[Any] = declared if isinstance(declared, list) else []
        for method in HTTP_METHODS:
            raw = item.get(method)
            if not isinstance(raw, dict):
                continue
            try:
                operations.append(read_operation(document, path, method, raw, shared, auth_header))
            except (SpecError, UnsupportedOperation) as exc:
                warnings.append(f"{method.upper()} {path} is skipped: {exc}")
            except RecursionError:
                warnings.append(f"{method.upper()} {path} is skipped: its schemas nest too deeply")
    return operations, warnings


# -- choosing and naming ---------------------------------------------------------------------


def find(operations: Iterable[Operation], reference: str) -> Operation | None:
    """The operation a configuration entry names, by operationId or ``METHOD /path``."""
    return next((op for op in operations if op.matches(reference)), None)


def select(
    operations: Sequence[Operation],
    *,
    include_tags: Sequence[str] = (),
    include_operations: Sequence[str] = (),
    include_paths: Sequence[str] = (),
    exclude_operations: Sequence[str] = (),
) -> list[Operation]:
    """The operations to offer: all, or those any include rule names, minus the excluded ones."""
    chosen: list[Operation] = []
    filtered = bool(include_tags or include_operations or include_paths)
    for op in operations:
        included = not filtered or (
            any(tag in op.tags for tag in include_tags)
            or any(op.matches(ref) for ref in include_operations)
            or any(fnmatchcase(op.path, pattern) for pattern in include_paths)
        )
        if included and not any(op.matches(ref) for ref in exclude_operations):
            chosen.append(op)
    return chosen


def snake_case(text: str) -> str:
    """``listTickets`` → ``list_tickets``; ``getHTTPStatus`` → ``get_http_status``; ``GET /a/{b}`` → ``get_a_b``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def tool_names(
    operations: Sequence[Operation], chosen: Mapping[str, str], max_length: int = MAX_TOOL_NAME
) -> dict[str, str]:
    """A unique tool name per operation key: ``chosen`` ones as given, the rest from the operationId."""
    names: dict[str, str] = {}
    used = set(chosen.values())
    for op in operations:
        if op.key in chosen:
            names[op.key] = chosen[op.key]
            continue
        base = snake_case(op.operation_id or op.label)[:max_length].rstrip("_") or "operation"
        name, n = base, 2
        while name in used:
            suffix = f"_{n}"
            name, n = base[: max_length - len(suffix)] + suffix, n + 1
        used.add(name)
        names[op.key] = name
    return names


def default_hints(method: str) -> ToolHints:
    """The MCP annotations an HTTP method implies; every operation reaches an outside system."""
    return ToolHints(
        read_only=method in READ_ONLY_METHODS,
        destructive=method == "DELETE",
        idempotent=method in IDEMPOTENT_METHODS,
        open_world=True,
    )


def default_title(op: Operation) -> str:
    return op.summary.rstrip(".") or op.label


def default_description(op: Operation, api_title: str) -> str:
    """The operation's description (or summary), then which request it makes."""
    text = op.description or op.summary
    if len(text) > MAX_DESCRIPTION_CHARS:
        text = text[:MAX_DESCRIPTION_CHARS].rstrip() + " […]"
    note = f"Calls `{op.label}` on {api_title}."
    if op.deprecated:
        note += " The API marks this operation as deprecated."
    return f"{text}\n\n{note}" if text else note


# -- making the request ----------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def build_request(op: Operation, arguments: Mapping[str, Any], *, idempotent: bool) -> BackendRequest:
    """The HTTP request for a call with validated ``arguments``; ParameterError for unsendable values."""
    path = op.path
    params: list[tuple[str, str]] = []
    headers: dict[str, str] = {"accept": ACCEPT}
    for parameter in op.parameters:
        value = arguments.get(parameter.argument)
        if value is None:
            if parameter.location == "path":
                raise ParameterError(f"path parameter {parameter.argument!r} needs a value")
            continue
        if parameter.location == "path":
            if parameter.as_json:
                value = _json_text(value)
            text = path_value(parameter.name, value, parameter.style, parameter.explode)
            path = path.replace("{" + parameter.name + "}", text)
        elif parameter.location == "query":
            if parameter.as_json:
                params.append((parameter.name, _json_text(value)))
            else:
                params.extend(query_pairs(parameter.name, value, parameter.style, parameter.explode))
        else:
            text = _json_text(value) if parameter.as_json else value
            headers[parameter.name] = header_value(parameter.name, text, parameter.explode)
    content: bytes | None = None
    if op.body is not None and "body" in arguments:
        value = arguments["body"]
        media = op.body.media_type
        if is_json_media(media):
            content = _json_text(value).encode()
        elif media.split(";", 1)[0].strip().lower() == _FORM:
            fields = value.items() if isinstance(value, Mapping) else []
            content = urlencode([(str(k), scalar(v)) for k, v in fields if v is not None]).encode()
        else:
            content = (value if isinstance(value, str) else _json_text(value)).encode()
            media = "text/plain; charset=utf-8"
        headers["content-type"] = media
    return BackendRequest(
        method=op.method,
        path=path,
        label=op.label,
        params=params,
        headers=headers,
        content=content,
        idempotent=idempotent,
    )
