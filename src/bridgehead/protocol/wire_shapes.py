"""The outcome of two SDK steps, given directly for the plain shapes nearly every tools/call has.

For each tools/call the fast path validates the params against the protocol's types (the SDK's
``validate_client_request`` and the params model) and shapes the result to the negotiated version's
surface (``serialize_server_result``). For a request whose params are just a name and an arguments
object, the surface validation cannot fail; for a result made of text blocks, an optional ``isError``, ``structuredContent`` and ``_meta``,
shaping cannot fail and changes nothing but the order and the set of keys; these functions say so
and do just that. Any other shape returns None and goes through the SDK. ``tests/protocol/test_wire_shapes.py``
holds both to the SDK on a table of shapes and on random ones.
"""

from __future__ import annotations

import importlib
from typing import Any

from mcp_types.methods import CLIENT_REQUESTS, SERVER_RESULTS
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel


def _wire_names(model: type[BaseModel]) -> tuple[str, ...]:
    """A model's fields as they appear on the wire, in the order pydantic dumps them."""
    return tuple(field.alias or name for name, field in model.model_fields.items())


def _one_surface(table: Any, method: str) -> Any:
    """The surface type the handshake-era versions share for ``method``; None if they differ."""
    shapes = {table.get((method, version)) for version in HANDSHAKE_PROTOCOL_VERSIONS}
    return shapes.pop() if len(shapes) == 1 else None


_RESULT_SURFACE = _one_surface(SERVER_RESULTS, "tools/call")
_REQUEST_SURFACE = _one_surface(CLIENT_REQUESTS, "tools/call")
# The text block of that surface lives beside it, in the module of the schema era it belongs to.
_TEXT_SURFACE = (
    getattr(importlib.import_module(_RESULT_SURFACE.__module__), "TextContent", None)
    if _RESULT_SURFACE
    else None
)

# The shortcut holds only for the surface it was written against; another SDK release may differ.
_RESULT_FIELDS = ("_meta", "content", "isError", "structuredContent")
_TEXT_FIELDS = ("_meta", "annotations", "text", "type")
RESULTS_ENABLED = (
    _RESULT_SURFACE is not None
    and _TEXT_SURFACE is not None
    and _wire_names(_RESULT_SURFACE) == _RESULT_FIELDS
    and _wire_names(_TEXT_SURFACE) == _TEXT_FIELDS
    and _RESULT_SURFACE.model_config.get("extra") == "ignore"
)
PARAMS_ENABLED = _REQUEST_SURFACE is not None and set(
    _REQUEST_SURFACE.model_fields["params"].annotation.model_fields
) == {"meta", "arguments", "name", "task"}
# Result keys the monolith model dumps that the handshake-era surface does not have (it ignores them).
_DROPPED = frozenset({"resultType"})
_HANDSHAKE = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)


def plain_call_params(version: str, params: Any) -> bool:
    """Whether a handshake-era tools/call's params are ``{"name": str}`` or ``{"name": str,
    "arguments": {...}}``: the surface validation of those always passes, so only the params model's
    own validation is needed."""
    if not PARAMS_ENABLED or version not in _HANDSHAKE or type(params) is not dict:
        return False
    if type(params.get("name")) is not str:
        return False
    return len(params) == 1 or (len(params) == 2 and type(params.get("arguments")) is dict)


def _plain_text(item: Any) -> dict[str, Any] | None:
    """A text block's surface dump, for a block of just type, text and an optional _meta object."""
    if type(item) is not dict or item.get("type") != "text" or type(item.get("text")) is not str:
        return None
    meta = item.get("_meta")
    if meta is None:
        return {"text": item["text"], "type": "text"} if len(item) == 2 else None
    if type(meta) is not dict or len(item) != 3:
        return None
    return {"_meta": meta, "text": item["text"], "type": "text"}


def handshake_call_result(version: str, dumped: dict[str, Any]) -> dict[str, Any] | None:
    """``serialize_server_result("tools/call", version, dumped)`` for a plain result, else None.

    ``dumped`` is a JSON-mode dump without None values (as ``CallToolResult.model_dump`` gives it).
    """
    if not RESULTS_ENABLED or version not in _HANDSHAKE:
        return None
    content = dumped.get("content")
    if type(content) is not list:
        return None
    for key, value in dumped.items():
        if key == "isError":
            if type(value) is not bool:
                return None
        elif key in ("_meta", "structuredContent"):
            if type(value) is not dict:
                return None
        elif key != "content" and key not in _DROPPED:
            return None
    blocks = []
    for item in content:
        block = _plain_text(item)
        if block is None:
            return None
        blocks.append(block)
    shaped: dict[str, Any] = {}
    if "_meta" in dumped:
        shaped["_meta"] = dumped["_meta"]
    shaped["content"] = blocks
    if "isError" in dumped:
        shaped["isError"] = dumped["isError"]
    if "structuredContent" in dumped:
        shaped["structuredContent"] = dumped["structuredContent"]
    return shaped
