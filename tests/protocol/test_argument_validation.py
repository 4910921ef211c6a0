"""Tool arguments are accepted exactly when the reference ``jsonschema`` validator accepts them.

ToolSurface answers the common case with a compiled validator (jsonschema-rs) and asks the
reference implementation only for the error to report; this table pins that the two never
disagree in the direction that matters (the fast one accepting what the reference rejects).
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError

from bridgehead.connectors.base import Tool, ToolHints, ToolOutput
from bridgehead.protocol.tools import ToolSurface

SCHEMAS: dict[str, dict[str, Any]] = {
    "object": {
        "type": "object",
        "properties": {"text": {"type": "string", "minLength": 2, "maxLength": 5}, "n": {"type": "integer"}},
        "required": ["text"],
        "additionalProperties": False,
    },
    "numbers": {
        "type": "object",
        "properties": {
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "step": {"type": "number", "multipleOf": 0.1},
            "count": {"type": "integer", "minimum": 1},
        },
    },
    "pattern": {
        "type": "object",
        "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-\\d{4}$"}, "w": {"pattern": "\\w+"}},
    },
    "format": {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}},
    "composition": {
        "type": "object",
        "properties": {
            "pick": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 10}]},
            "both": {"allOf": [{"minLength": 1}, {"maxLength": 3}]},
            "mode": {"enum": ["a", "b", None]},
            "fixed": {"const": {"k": [1, 2]}},
        },
        "unevaluatedProperties": False,
    },
    "refs": {
        "$defs": {"item": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1, "uniqueItems": True},
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "boolean"}],
                "items": False,
            },
        },
    },
}

INSTANCES: list[Any] = [
    {},
    {"text": "hey"},
    {"text": "h"},
    {"text": "héllo"},
    {"text": "😀😀"},
    {"text": "toolong"},
    {"text": "ok", "n": 1},
    {"text": "ok", "n": 1.0},
    {"text": "ok", "n": 1.5},
    {"text": "ok", "n": True},
    {"text": "ok", "extra": 1},
    {"ratio": 0},
    {"ratio": 0.5, "step": 0.3, "count": 2},
    {"ratio": 1.0000001},
    {"step": 0.7000000000000001},
    {"count": 0},
    {"sku": "ABC-1234"},
    {"sku": "ABC-12345"},
    {"sku": "ABC-١٢٣٤"},
    {"sku": "ABC-1234\n"},
    {"w": "é"},
    {"w": "--"},
    {"day": "not a date"},
    {"day": "2026-11-25"},
    {"pick": "x"},
    {"pick": 12},
    {"pick": 3},
    {"both": "ab"},
    {"both": ""},
    {"mode": None},
    {"mode": "c"},
    {"fixed": {"k": [1, 2]}},
    {"fixed": {"k": [2, 1]}},
    {"items": [{"id": 1}, {"id": 2}]},
    {"items": [{"id": 1}, {"id": 1}]},
    {"items": [{"id": "1"}]},
    {"items": []},
    {"pair": ["a", True]},
    {"pair": ["a", True, 3]},
    {"pair": [1]},
    {"unknown": {"deep": [None]}},
]


def surface_for(schema: dict[str, Any]) -> ToolSurface:
    async def handler(arguments: dict[str, Any], ctx: Any) -> ToolOutput:
        return ToolOutput(text="ok")

    tool = Tool(
        name="t",
        title="T",
        description="d",
        input_schema=schema,
        hints=ToolHints(read_only=True),
        handler=handler,
    )
    return ToolSurface([tool])


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_accepted_exactly_when_the_reference_validator_accepts(name: str) -> None:
    schema = SCHEMAS[name]
    reference = Draft202012Validator(schema)
    surface = surface_for(schema)
    for instance in INSTANCES:
        expected = reference.is_valid(instance)
        try:
            surface.validate("t", instance)
            accepted = True
        except MCPError as exc:
            accepted = False
            assert exc.error.message.startswith("Tool 't': "), exc.error.message
        assert accepted == expected, (name, instance)


def test_rejections_name_the_argument_at_fault() -> None:
    surface = surface_for(SCHEMAS["object"])
    with pytest.raises(MCPError, match="missing required argument 'text'"):
        surface.validate("t", {})
    with pytest.raises(MCPError, match="unexpected argument: 'extra'"):
        surface.validate("t", {"text": "ok", "extra": 1})
    with pytest.raises(MCPError, match="invalid argument 'n'"):
        surface.validate("t", {"text": "ok", "n": "one"})


def test_a_remote_ref_is_never_fetched() -> None:
    """A schema pointing at a remote document still validates locally (the reference answers)."""
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string"}},
        "$defs": {"r": {"$ref": "http://127.0.0.1:9/x"}},
    }
    surface = surface_for(schema)
    surface.validate("t", {"x": "fine"})
    with pytest.raises(MCPError):
        surface.validate("t", {"x": 1})


def test_the_compiled_validator_takes_every_schema_but_fractional_steps() -> None:
    """Otherwise the table above would only ever exercise the reference validator."""
    checked = {name: surface_for(schema)._checks["t"] is not None for name, schema in SCHEMAS.items()}
    assert checked == {name: name != "numbers" for name in SCHEMAS}
