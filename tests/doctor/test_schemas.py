"""Schema forms ChatGPT rejects: everything from before JSON Schema 2020-12, wherever it is nested."""

from __future__ import annotations

from bridgehead.doctor.schemas import dialect_problems


def test_a_2020_12_schema_is_fine() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "id": {"type": "string"},  # a property named id is not draft-04's id
            "definitions": {"type": "string"},  # nor one named definitions
        },
        "$defs": {"x": {"type": "number", "exclusiveMinimum": 0}},
    }
    assert dialect_problems(schema) == ([], [])


def test_draft_07_and_04_forms_are_named_where_they_are() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "order": {"type": "array", "items": [{"type": "string"}], "additionalItems": False},
            "n": {"anyOf": [{"type": "number", "minimum": 0, "exclusiveMinimum": True}]},
        },
        "definitions": {"d": {"dependencies": {"a": ["b"]}}},
    }
    problems, warnings = dialect_problems(schema, "tool.inputSchema")
    assert any(w.startswith("tool.inputSchema: $schema") for w in warnings)
    assert any(w.startswith("tool.inputSchema/definitions:") for w in warnings)
    assert (
        "tool.inputSchema/properties/order/items: an array of schemas (tuple form); 2020-12 uses prefixItems"
        in problems
    )
    assert any(p.startswith("tool.inputSchema/properties/order/additionalItems") for p in problems)
    assert any(p.startswith("tool.inputSchema/properties/n/anyOf/0/exclusiveMinimum") for p in problems)
    assert any(p.startswith("tool.inputSchema/definitions/d/dependencies") for p in problems)
