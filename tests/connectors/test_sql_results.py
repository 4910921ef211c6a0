"""Turning driver values into JSON-safe ones, and rows into the text table the model reads."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from ipaddress import ip_address
from typing import Any

import orjson
import pytest

from bridgehead.connectors.sql.results import QueryResult, format_table, json_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (42, 42),
        (2**70, str(2**70)),
        (1.5, 1.5),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (Decimal("19.99"), 19.99),
        (Decimal("20.00"), 20),
        (Decimal("0.1000000000000000000001"), "0.1000000000000000000001"),
        (Decimal("NaN"), "NaN"),
        (Decimal("1E+30"), "1E+30"),
        (dt.date(2025, 3, 1), "2025-03-01"),
        (dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC), "2025-03-01T12:30:00+00:00"),
        (dt.time(8, 15), "08:15:00"),
        (dt.timedelta(days=1, hours=1), "P1DT3600S"),
        (dt.timedelta(seconds=-1.5), "-PT1.5S"),
        (dt.timedelta(0), "PT0S"),
        (b"\x00\x01\xff", "AAH/"),
        (memoryview(b"abc"), "YWJj"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (ip_address("10.0.0.1"), "10.0.0.1"),
        ([1, Decimal("2.5"), None], [1, 2.5, None]),
        ({"a": dt.date(2025, 1, 1), 3: b"x"}, {"a": "2025-01-01", "3": "eA=="}),
        ({"b", "a"}, ["a", "b"]),
        (object, "<class 'object'>"),
    ],
)
def test_values_become_json_safe(value: Any, expected: Any) -> None:
    converted = json_value(value, 100)
    assert converted == expected
    orjson.dumps(converted)  # never raises


def test_long_text_and_bytes_are_cut() -> None:
    assert json_value("x" * 20, 16) == "x" * 16 + "\u2026"
    assert json_value(b"\x00" * 40, 16) == "AAAAAAAAAAAAAAAAAAAAAA==\u2026"


def test_text_table_aligns_columns_and_escapes_cells() -> None:
    table = format_table(["id", "note"], [[1, "two\nlines | pipe"], [22, None], [3, True]])
    assert table.splitlines() == [
        "id | note",
        "--" + "-+-" + "-" * len("two\\nlines \\| pipe"),
        "1  | two\\nlines \\| pipe",
        "22 | NULL",
        "3  | true",
    ]


def test_result_text_says_how_many_rows_and_whether_it_was_cut() -> None:
    assert QueryResult(["n"], [[1]], truncated=False).text(10).endswith("(1 row)")
    cut = QueryResult(["n"], [[1], [2]], truncated=True).text(2)
    assert "2 rows shown; the result has more" in cut
    assert QueryResult([], [], truncated=False).text(5) == "The query returned no columns."
