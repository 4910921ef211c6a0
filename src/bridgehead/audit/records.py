"""Audit events and the redaction applied to their payloads before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

REDACTED = "[REDACTED]"

# Card-like digit runs (13-19 digits, spaces or dashes allowed); confirmed with the Luhn checksum.
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Credentials that show up inside free text: bearer tokens and JWTs.
_BUILTIN = [
    re.compile(r"(?i)\bbearer\s+[a-z0-9._~+/-]+=*"),
    re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]{6,}"),
]


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass(frozen=True)
class AuditEvent:
    """One tools/call as recorded."""

    at: float
    tool: str
    arguments: Any
    result: Any
    is_error: bool
    decision: str
    reason: str
    duration_ms: float
    user_id: str | None = None
    username: str | None = None
    client_id: str | None = None
    transport: str | None = None
    session_id: str | None = None
    request_id: str | None = None


class Redactor:
    """Removes secrets from payloads: by key name, by configured patterns, and card numbers."""

    def __init__(self, fields: Sequence[str], patterns: Sequence[str], max_bytes: int) -> None:
        self.fields = tuple(f.lower() for f in fields)
        # The sensitive key names as one alternation: a single search per key.
        self._keys = re.compile("|".join(re.escape(f) for f in self.fields)) if self.fields else None
        self.patterns = [*_BUILTIN, *(re.compile(p) for p in patterns)]
        self.max_bytes = max_bytes

    def _sensitive_key(self, key: str) -> bool:
        return self._keys is not None and self._keys.search(key.lower()) is not None

    def _text(self, value: str) -> str:
        for pattern in self.patterns:
            value = pattern.sub(REDACTED, value)

        def card(match: re.Match[str]) -> str:
            digits = re.sub(r"\D", "", match.group(0))
            return REDACTED if _luhn(digits) else match.group(0)

        return _CARD.sub(card, value)

    def redact(self, value: Any) -> Any:
        """A copy of ``value`` with secrets replaced."""
        if isinstance(value, dict):
            return {k: REDACTED if self._sensitive_key(str(k)) else self.redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        if isinstance(value, str):
            return self._text(value)
        return value

    def payload(self, value: Any) -> Any:
        """Redacted, then bounded: an oversized payload is kept as a truncated JSON string with a note."""
        redacted = self.redact(value)
        encoded = orjson.dumps(redacted, default=str)
        if len(encoded) <= self.max_bytes:
            return redacted
        return {
            "truncated": True,
            "bytes": len(encoded),
            "head": encoded[: self.max_bytes].decode("utf-8", "ignore"),
        }
