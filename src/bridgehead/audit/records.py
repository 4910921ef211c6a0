"""Audit events and the redaction applied to their payloads before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

REDACTED = "[REDACTED]"

# Card-like digit runs (13-19 digits, spaces or dashes allowed); confirmed with the Luhn checksum.
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Credentials that show up inside free text: bearer tokens and JWTs.
_BUILTIN = [
    re.compile(r"(?i)\bbearer\s+[a-z0-9._~+/-]+=*"),
    re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]{6,}"),
]
# Looser forms of the built-in rules for the one scan of a payload's JSON text (see Redactor.payload):
# whatever the rules above find in a string, these find in its JSON encoding.
_TRIGGER_WORDS = ("bearer", "eyj")
_CARD_TRIGGER = re.compile(r"\d[\d -]{12}")
_ASCII_CARD_TRIGGER = re.compile(r"[0-9][0-9 -]{12}")  # the same for ASCII text, twice as fast
# A card number has at least 13 digits: ASCII text with fewer needs no search (counted in C).
_CARD_MIN_DIGITS = 13
_NOT_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
# Characters JSON text escapes: a key name containing one would not appear verbatim in the text.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')
# Free-text reasons come from a small set of policy sentences: the ones found clean are remembered.
MAX_REMEMBERED_REASONS = 1024


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


class AuditEvent(NamedTuple):
    """One tools/call as recorded, its fields in the order of the store's columns (the writers take rows
    in this order); the free text and payloads come last, where the log puts their redacted forms.

    A tuple, not a dataclass: it is built for every call, and the row is made from it by slicing."""

    at: float
    user_id: str | None
    username: str | None
    client_id: str | None
    tool: str
    is_error: bool
    decision: str
    duration_ms: float
    transport: str | None
    session_id: str | None
    request_id: str | None
    reason: str
    arguments: Any
    result: Any


class Redactor:
    """Removes secrets from payloads: by key name, by configured patterns, and card numbers."""

    def __init__(self, fields: Sequence[str], patterns: Sequence[str], max_bytes: int) -> None:
        self.fields = tuple(f.lower() for f in fields)
        # The sensitive key names as one alternation: a single search per key.
        self._keys = re.compile("|".join(re.escape(f) for f in self.fields)) if self.fields else None
        self.patterns = [*_BUILTIN, *(re.compile(p) for p in patterns)]
        self.max_bytes = max_bytes
        # The one-scan check needs rules it can loosen: not configured patterns (arbitrary regular
        # expressions), nor key names that are not plain ASCII or that JSON would escape.
        self._scannable = not patterns and all(
            f.isascii() and not _JSON_ESCAPED.search(f) for f in self.fields
        )
        # A word that contains another trigger word can only be present where that one is.
        words = (*self.fields, *_TRIGGER_WORDS)
        self._trigger_words = tuple(w for w in words if not any(o != w and o in w for o in words))
        self._clean_reasons: set[str] = set()

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

    def _clean(self, text: str) -> bool:
        """True when the JSON ``text`` surely holds nothing ``redact`` would replace.

        Every key name, string and digit run of a payload appears verbatim in its JSON text,
        except for escaped quotes, backslashes and control characters, so one pass over the text
        with rules looser than ``redact``'s (no word boundaries, any "bearer", any 13 digits)
        finds everything ``redact`` would; a false alarm only costs the structured pass.
        (On str: CPython searches str twice as fast as bytes.)
        """
        if not self._scannable:
            return False
        lowered = text.lower()
        for word in self._trigger_words:
            if word in lowered:
                return False
        if not text.isascii():
            return _CARD_TRIGGER.search(text) is None
        if len(text.encode("ascii").translate(None, _NOT_DIGITS)) < _CARD_MIN_DIGITS:
            return True
        return _ASCII_CARD_TRIGGER.search(text) is None

    def payload(self, value: Any) -> str:
        """The JSON text to store: redacted, then bounded (an oversized payload is kept as a
        truncated JSON string with a note).

        Most payloads hold no secret; for those the text is encoded once and scanned once
        instead of walking and copying the whole structure (tests/audit/test_redaction.py
        checks both ways give the same text).
        """
        encoded = orjson.dumps(value, default=str)
        text = encoded.decode()
        if self._clean(text):
            return self._bounded(encoded, text)
        encoded = orjson.dumps(self.redact(value), default=str)
        return self._bounded(encoded, encoded.decode())

    def pair(self, first: Any, second: Any) -> tuple[str, str]:
        """``payload`` of both; the usual secret-free pair (a call's arguments and result) shares one
        scan of their joined text."""
        encoded_first = orjson.dumps(first, default=str)
        encoded_second = orjson.dumps(second, default=str)
        first_text, second_text = encoded_first.decode(), encoded_second.decode()
        # A newline breaks every trigger (words, digit runs), so the joined text raises no alarm
        # that one of its parts would not raise alone.
        if self._clean(first_text + "\n" + second_text):
            return self._bounded(encoded_first, first_text), self._bounded(encoded_second, second_text)
        return self.payload(first), self.payload(second)

    def _bounded(self, encoded: bytes, text: str) -> str:
        if len(encoded) <= self.max_bytes:
            return text
        truncated = {
            "truncated": True,
            "bytes": len(encoded),
            "head": encoded[: self.max_bytes].decode("utf-8", "ignore"),
        }
        return orjson.dumps(truncated).decode()

    def text(self, value: str) -> str:
        """A free-text field (a reason) with secrets replaced."""
        if value in self._clean_reasons:
            return value
        if self._clean(value):
            if len(self._clean_reasons) < MAX_REMEMBERED_REASONS:
                self._clean_reasons.add(value)
            return value
        return self._text(value)
