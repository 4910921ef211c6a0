"""OpenAPI parameter serialization: how a path, query or header value is written for each ``style``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote


class ParameterError(Exception):
    """A value that cannot be sent as this parameter."""


def scalar(value: Any) -> str:
    """One value as text: JSON spelling for booleans and null, JSON for nested structures."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pairs(value: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(key), scalar(item)) for key, item in value.items() if item is not None]


def path_value(name: str, value: Any, style: str = "simple", explode: bool = False) -> str:
    """The text that replaces ``{name}`` in the path, each piece percent-encoded."""

    def enc(text: str) -> str:
        return quote(text, safe="")

    if isinstance(value, Mapping):
        pairs = [(enc(k), enc(v)) for k, v in _pairs(value)]
        if style == "label":
            sep = "." if explode else ","
            return "." + sep.join(f"{k}={v}" if explode else f"{k},{v}" for k, v in pairs)
        if style == "matrix":
            if explode:
                return "".join(f";{k}={v}" for k, v in pairs)
            return f";{enc(name)}=" + ",".join(f"{k},{v}" for k, v in pairs)
        return ",".join(f"{k}={v}" if explode else f"{k},{v}" for k, v in pairs)
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = [enc(scalar(item)) for item in value]
        if style == "label":
            return "." + ("." if explode else ",").join(items)
        if style == "matrix":
            if explode:
                return "".join(f";{enc(name)}={item}" for item in items)
            return f";{enc(name)}=" + ",".join(items)
        return ",".join(items)
    text = enc(scalar(value))
    if text in ("", ".", ".."):
        # An empty or dot segment would make the URL point at another resource.
        raise ParameterError(f"path parameter {name!r} cannot be {scalar(value)!r}")
    if style == "label":
        return "." + text
    if style == "matrix":
        return f";{enc(name)}={text}"
    return text


def query_pairs(name: str, value: Any, style: str = "form", explode: bool = True) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs a query parameter becomes (httpx encodes them)."""
    if isinstance(value, Mapping):
        pairs = _pairs(value)
        if style == "deepObject":
            return [(f"{name}[{k}]", v) for k, v in pairs]
        if explode:
            return pairs
        return [(name, ",".join(f"{k},{v}" for k, v in pairs))]
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = [scalar(item) for item in value]
        if style == "spaceDelimited":
            return [(name, " ".join(items))]
        if style == "pipeDelimited":
            return [(name, "|".join(items))]
        if explode:
            return [(name, item) for item in items]
        return [(name, ",".join(items))]
    return [(name, scalar(value))]


def header_value(name: str, value: Any, explode: bool = False) -> str:
    """A header parameter's value (``simple`` style); line breaks are refused."""
    if isinstance(value, Mapping):
        text = ",".join(f"{k}={v}" if explode else f"{k},{v}" for k, v in _pairs(value))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        text = ",".join(scalar(item) for item in value)
    else:
        text = scalar(value)
    if "\r" in text or "\n" in text or "\x00" in text:
        raise ParameterError(f"header parameter {name!r} cannot contain line breaks")
    return text
