"""The one-scan redaction of audit payloads gives exactly the text the structured pass gives.

``Redactor.payload`` encodes a payload once and scans the JSON text with loosened rules;
only when that scan finds something does it walk the structure. These tests hold it to
the reference: the JSON of ``Redactor.redact(value)``, on payloads built to sit at the
edges of every rule (escapes next to secrets, separators, case) and on random ones.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from bridgehead.audit.records import REDACTED, Redactor
from bridgehead.config import AuditSettings

DEFAULT_FIELDS = AuditSettings().redact_fields
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
CARD = "4111 1111 1111 1111"


def reference(redactor: Redactor, value: Any) -> str:
    encoded = orjson.dumps(redactor.redact(value), default=str)
    if len(encoded) <= redactor.max_bytes:
        return encoded.decode()
    head = encoded[: redactor.max_bytes].decode("utf-8", "ignore")
    return orjson.dumps({"truncated": True, "bytes": len(encoded), "head": head}).decode()


EDGE_CASES: list[Any] = [
    {"text": "echo from wrk: the quick brown fox jumps over the lazy dog"},
    {"content": [{"type": "text", "text": "plain"}], "isError": False},
    {"note": "line one\nBearer abc.def-ghi"},  # JSON writes \n: "\nBearer" has no word boundary there
    {"note": "tab\tbearer\tsecret-value"},
    {"note": 'quote"' + JWT},
    {"note": "\n" + JWT},  # "\n" becomes the two characters \ and n: a word character before eyJ
    {"n": "\x01" + "4111111111111111"},  # \u0001: escape digits right before the card's
    {"n": "4111111111111111\x02"},
    {"n": "4111-1111-1111-1111"},
    {"n": CARD},
    {"n": "1234567890123"},
    {"n": "\u0664" + "\u0661" * 15},  # 4111 1111 1111 1111 in Arabic-Indic digits: \\d matches them too
    {
        "n": "é " + CARD
    },  # a card in text that is not ASCII  # 13 digits failing Luhn: scanned as suspect, kept
    {"n": 4111111111111111},  # a number, not a string: redact leaves numbers alone
    {"PassWord": "x", "nested": [{"Api_Key": "k"}]},
    {'my"password': "x"},
    {"pass\nword": "x"},
    {"KEY": "value with TOKEN inside"},  # a sensitive word in a value, not a key: a false alarm only
    {"ключ": "Ünïcödé text, nothing secret", "emoji": "🦊"},
    {"K": "Kelvin sign key", "İd": "dotted capital I"},
    {"to\u212aen": "s3cr3t"},  # KELVIN SIGN lower-cases to k: a sensitive key in non-ASCII text
    {"t": ("a", "tuple", CARD)},
    [CARD, {"token": 1}, None, 1.5, True],
    "a bare string with bearer xyz",
    None,
    12345,
    {"text": "x" * 5000},
    {"text": ("y" * 2000) + CARD},
]


@pytest.mark.parametrize("value", EDGE_CASES)
def test_default_rules_match_the_structured_pass(value: Any) -> None:
    redactor = Redactor(DEFAULT_FIELDS, [], 4096)
    assert redactor.payload(value) == reference(redactor, value)


@pytest.mark.parametrize("value", EDGE_CASES)
def test_configured_patterns_take_the_structured_pass(value: Any) -> None:
    redactor = Redactor(DEFAULT_FIELDS, [r"ACME-\d{4}", r"(?m)^secret$"], 4096)
    assert redactor.payload(value) == reference(redactor, value)
    assert (
        redactor.payload({"a": "x\nsecret\ny ACME-1234"})
        == '{"a":"x\\n' + REDACTED + "\\ny " + REDACTED + '"}'
    )


def test_key_names_json_would_escape_take_the_structured_pass() -> None:
    redactor = Redactor(['pass"word', "tab\tkey", "schlüssel"], [], 4096)
    for value in ({'pass"word': "x"}, {"TAB\tKEY": "y"}, {"SCHLÜSSEL": "z"}):
        assert REDACTED in redactor.payload(value)
        assert redactor.payload(value) == reference(redactor, value)


def test_secrets_are_gone_from_the_text() -> None:
    redactor = Redactor(DEFAULT_FIELDS, [], 4096)
    text = redactor.payload(
        {"note": "a\nBearer abc.def", "jwt": "\n" + JWT, "card": "\x01" + CARD.replace(" ", "")}
    )
    assert "abc.def" not in text and JWT not in text and "4111" not in text


FRAGMENTS = [
    "bearer ",
    "Bearer\t",
    "BEARER\n",
    "eyJ",
    JWT,
    "eyJabcdef.ghijkl.mnopqr",
    CARD,
    "4111111111111111",
    "4111-1111-1111-1111",
    "1234 5678 9012 3",
    "0",
    "7",
    " ",
    "-",
    "\n",
    "\t",
    "\x00",
    "\x1f",
    '"',
    "\\",
    "token",
    "Password",
    "api",
    "_key",
    "é",
    "Σ",
    "ς",
    "İ",
    "K",
    "🦊",
    "plain words",
    ".",
    "=",
]
KEYS = ["text", "query", "Token", "api_key", "apiKey", "note", "id", "PASSWORD", "pass\nword", "ключ"]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 3 and kind < 0.25:
        return {
            rng.choice(KEYS) + rng.choice(["", "2", "_x"]): random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    if depth < 3 and kind < 0.4:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind < 0.5:
        return rng.choice([None, True, False, rng.randint(-(10**16), 10**16), rng.random() * 1e6])
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 8)))


def test_random_payloads_match_the_structured_pass() -> None:
    rng = random.Random(20261125)
    redactor = Redactor(DEFAULT_FIELDS, [], 2048)
    for _ in range(5000):
        value = random_value(rng)
        assert redactor.payload(value) == reference(redactor, value), value


def test_free_text_reasons() -> None:
    redactor = Redactor(DEFAULT_FIELDS, [], 4096)
    assert redactor.text("role analyst allows 'search'") == "role analyst allows 'search'"
    assert redactor.text("upstream said: Bearer abc.def") == f"upstream said: {REDACTED}"


PAIRS: list[tuple[Any, Any]] = [
    ({"text": "echo"}, {"content": [{"type": "text", "text": "echo"}], "isError": False}),
    ({"n": "4111 1111"}, {"n": "1111 1111"}),  # a card split across the two: neither holds one
    ({"n": "1234 5678 9012"}, "3"),  # 12 digits, then one more in the other payload
    ({"q": "bear"}, {"q": "er xyz"}),  # a trigger word split across the two
    ({"q": "ok"}, {"token": "secret"}),
    ({"password": "x"}, {"q": "ok"}),
    ({"n": CARD}, {"n": CARD}),
]


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_payloads_scanned_together_match_each_alone(first: Any, second: Any) -> None:
    redactor = Redactor(DEFAULT_FIELDS, [], 4096)
    assert redactor.pair(first, second) == (reference(redactor, first), reference(redactor, second))


def test_random_pairs_match_the_structured_pass() -> None:
    rng = random.Random(20261126)
    redactor = Redactor(DEFAULT_FIELDS, [], 2048)
    for _ in range(3000):
        first, second = random_value(rng), random_value(rng)
        expected = (reference(redactor, first), reference(redactor, second))
        assert redactor.pair(first, second) == expected, (first, second)


def test_only_clean_reasons_are_remembered() -> None:
    redactor = Redactor(DEFAULT_FIELDS, [], 4096)
    for _ in range(2):  # the second time from memory, for the clean one
        assert redactor.text("role analyst allows 'search'") == "role analyst allows 'search'"
        assert redactor.text("upstream said: Bearer abc.def") == f"upstream said: {REDACTED}"
