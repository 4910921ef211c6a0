"""Query results as the model sees them: JSON-safe values and a compact text table."""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

import orjson

# orjson (and most JSON readers) stop at 64-bit integers; larger ones travel as strings.
_MAX_SAFE_INT = 2**63 - 1
_TEXT_CELL_CHARS = 60  # the text table is for a glance; structured content holds the full value
_ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class QueryResult:
    """Rows of one read, already JSON-safe, and whether more rows existed than were kept."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool

    def structured(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
        }

    def text(self, max_rows: int) -> str:
        """The table, then a line saying how many rows and whether there were more."""
        if not self.columns:
            return "The query returned no columns."
        table = format_table(self.columns, self.rows)
        count = len(self.rows)
        if self.truncated:
            footer = (
                f"({count} rows shown; the result has more. Only the first {max_rows} are returned: "
                "add WHERE conditions, aggregate, or ORDER BY … LIMIT to see what matters.)"
            )
        else:
            footer = f"({count} row{'' if count == 1 else 's'})"
        return f"{table}\n{footer}"


def json_value(value: Any, max_chars: int) -> Any:
    """A driver value as a JSON-safe one; long strings and byte strings are cut at ``max_chars``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return _decimal_value(value)
    if isinstance(value, str):
        return _cut(value, max_chars)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        # Base64 of the first max_chars bytes: enough to recognise a value, never a megabyte blob.
        encoded = base64.b64encode(raw[:max_chars]).decode("ascii")
        return encoded + _ELLIPSIS if len(raw) > max_chars else encoded
    if isinstance(value, uuid.UUID | IPv4Address | IPv6Address | IPv4Network | IPv6Network):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v, max_chars) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [json_value(v, max_chars) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [json_value(v, max_chars) for v in value]
    return _cut(str(value), max_chars)


def _decimal_value(value: Decimal) -> int | float | str:
    """An exact JSON number when there is one; otherwise the decimal's own digits as a string."""
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        integral = int(value)
        if -_MAX_SAFE_INT <= integral <= _MAX_SAFE_INT:
            return integral
        return str(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)


def _iso_duration(value: dt.timedelta) -> str:
    """An ISO 8601 duration such as ``P1DT3600S`` or ``-PT1.5S``."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    text = f"{sign}P"
    if value.days:
        text += f"{value.days}D"
    if seconds or not value.days:
        text += f"T{seconds:g}S"
    return text


def _cut(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + _ELLIPSIS


def json_row(row: Sequence[Any], max_chars: int) -> list[Any]:
    return [json_value(value, max_chars) for value in row]


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ").replace("|", "\\|")
    return _cut(text, _TEXT_CELL_CHARS)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A pipe-separated table of JSON-safe rows, columns padded to their widest cell."""
    header = [_cell(c) for c in columns]
    body = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(header[i])] + [len(r[i]) for r in body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])
