"""OpenAPI schema objects as JSON Schema 2020-12, the dialect of MCP tool input schemas.

An OpenAPI 3.1 schema is JSON Schema 2020-12 with a few keywords of OpenAPI's own;
a 3.0 schema is an older dialect (``nullable``, ``example``, boolean
``exclusiveMaximum``). Both become plain 2020-12: OpenAPI-only keywords and ``x-``
extensions are dropped, 3.0 forms are rewritten, properties marked ``readOnly``
(which a client never sends) are removed, and regular expressions Python cannot
compile are dropped rather than failing every call.

References are inlined while they are not recursive; a recursive one (or any once
the inlining budget is spent) becomes ``{"$ref": "#/$defs/Name"}`` with its target
under the tool schema's ``$defs``, so a self-referencing model is described exactly
and the conversion always ends.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from bridgehead.connectors.openapi.spec import OpenAPIDocument
from bridgehead.connectors.schema_keywords import SUBSCHEMA, SUBSCHEMA_LISTS, SUBSCHEMA_MAPS

_SUBSCHEMA = frozenset(SUBSCHEMA)
_SUBSCHEMA_LISTS = frozenset(SUBSCHEMA_LISTS)
_SUBSCHEMA_MAPS = frozenset(SUBSCHEMA_MAPS)
_DROPPED = frozenset(
    {
        "discriminator",
        "xml",
        "externalDocs",
        "nullable",
        "example",
        "additionalItems",
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$dynamicRef",
        "$recursiveAnchor",
        "$recursiveRef",
        "$vocabulary",
        "$defs",
        "definitions",
        "$comment",
    }
)
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_COMPOSED = ("allOf", "anyOf", "oneOf", "$ref", "const", "not")


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _clean_type(value: Any) -> Any:
    """A ``type`` keyword with only the seven JSON types, or None when nothing valid is left."""
    if isinstance(value, str):
        return value if value in _TYPES else None
    if isinstance(value, list):
        kept = list(dict.fromkeys(t for t in value if isinstance(t, str) and t in _TYPES))
        return kept or None
    return None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, also accepting null (OpenAPI 3.0's ``nullable: true``)."""
    kind = schema.get("type")
    if any(key in schema for key in _COMPOSED) or (kind is None and "enum" in schema):
        wrapper: dict[str, Any] = {key: schema.pop(key) for key in list(schema) if key in ANNOTATIONS}
        wrapper["anyOf"] = [schema, {"type": "null"}]
        return wrapper
    if isinstance(kind, str) and kind != "null":
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    enum = schema.get("enum")
    if isinstance(enum, list) and None not in enum:
        enum.append(None)
    return schema


def _drop_read_only(schema: dict[str, Any]) -> None:
    """Remove properties the server sets itself: a request never carries them."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    hidden = [
        name for name, sub in properties.items() if isinstance(sub, dict) and sub.get("readOnly") is True
    ]
    for name in hidden:
        del properties[name]
    if hidden and isinstance(schema.get("required"), list):
        schema["required"] = [name for name in schema["required"] if name not in hidden]


def _overlay(target: Any, extra: dict[str, Any]) -> Any:
    """A referenced schema with the keywords written beside its ``$ref``."""
    if not extra:
        return target
    if target is True:
        return extra
    if isinstance(target, dict) and set(extra) <= ANNOTATIONS:
        return {**target, **extra}
    return {"allOf": [target], **extra}


class SchemaConverter:
    """Converts the schemas of one operation and collects the definitions they share."""

    def __init__(self, document: OpenAPIDocument, inline_budget: int = 200) -> None:
        self.document = document
        self._budget = inline_budget
        self._names: dict[str, str] = {}
        self._definitions: dict[str, Any] = {}
        self._pending: list[str] = []

    def convert(self, schema: Any) -> Any:
        """One schema (with its references) as JSON Schema 2020-12."""
        return self._convert(schema, ())

    def definitions(self) -> dict[str, Any]:
        """The ``$defs`` the converted schemas refer to (empty when everything could be inlined)."""
        while self._pending:
            ref = self._pending.pop()
            name = self._names[ref]
            if name not in self._definitions:
                self._definitions[name] = {}
                self._definitions[name] = self._convert(self.document.resolve(ref), (ref,))
        return dict(self._definitions)

    def _definition_name(self, ref: str) -> str:
        if ref in self._names:
            return self._names[ref]
        last = unquote(ref.rsplit("/", 1)[-1]).replace("~1", "/").replace("~0", "~")
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", last) or "schema"
        name, n = base, 2
        taken = set(self._names.values())
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        self._names[ref] = name
        self._pending.append(ref)
        return name

    def _reference(self, ref: str, stack: tuple[str, ...]) -> Any:
        if ref in stack or self._budget <= 0:
            return {"$ref": f"#/$defs/{self._definition_name(ref)}"}
        self._budget -= 1
        return self._convert(self.document.resolve(ref), (*stack, ref))

    def _convert(self, node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            return {}
        if isinstance(node.get("$ref"), str):
            target = self._reference(node["$ref"], stack)
            siblings = {key: value for key, value in node.items() if key not in ("$ref", "nullable")}
            merged = _overlay(target, self._convert(siblings, stack) if siblings else {})
            if node.get("nullable") is True:
                return {"anyOf": [merged, {"type": "null"}]}
            return merged
        out: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str) or key in _DROPPED or key.startswith("x-"):
                continue
            if key in _SUBSCHEMA_MAPS:
                if isinstance(value, dict):
                    out[key] = {str(name): self._convert(sub, stack) for name, sub in value.items()}
            elif key in _SUBSCHEMA_LISTS:
                if isinstance(value, list):
                    out[key] = [self._convert(sub, stack) for sub in value]
            elif key == "items" and isinstance(value, list):
                # Draft-07's array form of `items` is `prefixItems` in 2020-12.
                out["prefixItems"] = [self._convert(sub, stack) for sub in value]
                if "additionalItems" in node:
                    out["items"] = self._convert(node["additionalItems"], stack)
            elif key in _SUBSCHEMA:
                out[key] = self._convert(value, stack)
            elif key == "type":
                kind = _clean_type(value)
                if kind is not None:
                    out[key] = kind
            elif key == "pattern":
                if isinstance(value, str) and _compiles(value):
                    out[key] = value
            elif key == "required":
                if isinstance(value, list):
                    out[key] = list(dict.fromkeys(str(name) for name in value))
            elif key in ("enum", "examples"):
                if isinstance(value, list):
                    out[key] = copy.deepcopy(value)
            else:
                out[key] = copy.deepcopy(value)
        for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            # OpenAPI 3.0: a boolean that makes `minimum`/`maximum` exclusive.
            if isinstance(out.get(flag), bool):
                exclusive = out.pop(flag)
                if exclusive and bound in out:
                    out[flag] = out.pop(bound)
        if "example" in node and "examples" not in out:
            out["examples"] = [copy.deepcopy(node["example"])]
        _drop_read_only(out)
        if node.get("nullable") is True:
            out = _nullable(out)
        return out
