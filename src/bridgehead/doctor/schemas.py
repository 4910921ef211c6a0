"""Tool schemas ChatGPT rejects: JSON Schema forms from before draft 2020-12.

MCP tool schemas are JSON Schema 2020-12 unless they say otherwise, and ChatGPT reads them as
2020-12: forms whose meaning changed or disappeared break the tool — ``items`` as an array (tuple
validation; 2020-12 has ``prefixItems``), ``additionalItems``, ``dependencies`` (now
``dependentRequired``/``dependentSchemas``), boolean ``exclusiveMinimum``/``exclusiveMaximum`` and
``id`` (draft-04). A ``$schema`` naming an older draft, or ``definitions`` instead of ``$defs``,
mean the same under 2020-12 and are only worth a warning. ``dialect_problems`` walks a schema and
names each such place.
"""

from __future__ import annotations

from typing import Any

DIALECT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# Keywords whose values are schemas, lists of schemas, or maps of schemas (2020-12 and older).
SCHEMA_VALUED = ("not", "if", "then", "else", "contains", "propertyNames", "additionalProperties", "unevaluatedItems",
                 "unevaluatedProperties", "additionalItems")  # fmt: skip
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def dialect_problems(schema: Any, where: str = "") -> tuple[list[str], list[str]]:
    """(forms that break under 2020-12, forms that only say another draft), as ``path: what``."""
    problems: list[str] = []
    warnings: list[str] = []
    walk(schema, where or "#", problems, warnings)
    return problems, warnings


def walk(schema: Any, path: str, problems: list[str], warnings: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    declared = schema.get("$schema")
    if isinstance(declared, str) and declared.rstrip("#") != DIALECT_2020_12:
        warnings.append(f"{path}: $schema {declared!r} (ChatGPT reads schemas as 2020-12: {DIALECT_2020_12})")
    if "definitions" in schema:
        warnings.append(f"{path}/definitions: use $defs (2020-12)")
    if isinstance(schema.get("items"), list):
        problems.append(f"{path}/items: an array of schemas (tuple form); 2020-12 uses prefixItems")
    for keyword, instead in (
        ("additionalItems", "items (after prefixItems)"),
        ("dependencies", "dependentRequired / dependentSchemas"),
    ):
        if keyword in schema:
            problems.append(f"{path}/{keyword}: a pre-2020-12 keyword; use {instead}")
    for keyword in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(schema.get(keyword), bool):
            problems.append(f"{path}/{keyword}: a boolean (draft-04); 2020-12 takes the bound itself")
    if isinstance(schema.get("id"), str) and str(schema["id"]).startswith(("http", "#", "urn:")):
        problems.append(f"{path}/id: draft-04's id; use $id")
    for keyword in SCHEMA_VALUED:
        walk(schema.get(keyword), f"{path}/{keyword}", problems, warnings)
    items = schema.get("items")
    if isinstance(items, list):
        for index, item in enumerate(items):
            walk(item, f"{path}/items/{index}", problems, warnings)
    else:
        walk(items, f"{path}/items", problems, warnings)
    for keyword in SCHEMA_LISTS:
        value = schema.get(keyword)
        if isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}/{keyword}/{index}", problems, warnings)
    for keyword in SCHEMA_MAPS:
        value = schema.get(keyword)
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{path}/{keyword}/{name}", problems, warnings)
    dependencies = schema.get("dependencies")
    if isinstance(dependencies, dict):
        for name, item in dependencies.items():
            walk(item, f"{path}/dependencies/{name}", problems, warnings)
