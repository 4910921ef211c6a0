"""Bearer challenges (RFC 6750 §3): the ``WWW-Authenticate`` header of a 401 or 403, and the
``_meta["mcp/www_authenticate"]`` of a tool result, which carries the same challenge for ChatGPT's
mixed authentication."""

from __future__ import annotations

import re
from typing import Any

AUTH_PARAM = re.compile(r'\s*,?\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*')


def bearer_challenge(header: str) -> dict[str, str] | None:
    """The parameters of the Bearer challenge in a WWW-Authenticate value, or None when there is none."""
    match = re.search(r"(?:^|[\s,])Bearer(?=\s|$|,)", header, flags=re.IGNORECASE)
    if match is None:
        return None
    params: dict[str, str] = {}
    position = match.end()
    while position < len(header):
        param = AUTH_PARAM.match(header, position)
        if param is None or not param.group(1) or param.end() == position:
            break
        value = param.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[param.group(1).lower()] = value
        position = param.end()
    return params


def tool_challenge_problems(value: Any) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a tool result's ``_meta["mcp/www_authenticate"]``; empty when fine.

    ChatGPT reads it as a list of WWW-Authenticate values and starts linking from a Bearer challenge
    that says why (``error``, ``error_description``); ``resource_metadata`` tells it where to start.
    """
    if isinstance(value, str):
        values: list[Any] = [value]
    elif isinstance(value, list) and value:
        values = value
    else:
        return [f"must be a non-empty list of WWW-Authenticate strings, not {type(value).__name__}"], []
    problems: list[str] = []
    warnings: list[str] = []
    for index, item in enumerate(values):
        if not isinstance(item, str):
            problems.append(f"[{index}] is a {type(item).__name__}, not a string")
            continue
        challenge = bearer_challenge(item)
        if challenge is None:
            problems.append(f"[{index}] is not a Bearer challenge: {item[:120]!r}")
            continue
        missing = [p for p in ("error", "error_description") if not challenge.get(p)]
        if missing:
            problems.append(f"[{index}] lacks {' and '.join(missing)}: {item[:160]!r}")
        elif not challenge.get("resource_metadata"):
            warnings.append(f"[{index}] names no resource_metadata: {item[:160]!r}")
    return problems, warnings
