"""Where JSON Schema 2020-12 keeps subschemas, for connectors that rewrite schemas from other dialects."""

from __future__ import annotations

SUBSCHEMA = (
    "additionalProperties",
    "items",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
"""Keywords whose value is one subschema."""

SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
"""Keywords whose value is a list of subschemas."""

SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
"""Keywords whose value maps names to subschemas (``$defs`` too, where definitions are walked)."""
