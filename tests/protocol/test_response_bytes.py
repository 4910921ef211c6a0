"""The fast path writes JSON-RPC responses with orjson; the bytes must be the SDK's (pydantic's)."""

from __future__ import annotations

import random
from typing import Any

import mcp_types as types
import pytest

from bridgehead.protocol.fastpath import _response_bytes

VALUES: list[Any] = [
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64,  # past orjson's range: the pydantic fallback
    1.0,
    0.1,
    -0.0,
    1e-7,
    1e16,
    1e22,
    5e-324,
    1.7976931348623157e308,
    float("nan"),
    float("inf"),
    True,
    None,
    "",
    "héllo wörld",
    "emoji 😀 and ☕",
    "\x00\x01\x1f\x7f control",
    "\u2028\u2029 separators",
    'quote " backslash \\ slash /',
    [],
    {},
    {"nested": [{"a": [1, {"b": None}]}]},
]


def sdk_bytes(request_id: str | int, result: dict[str, Any]) -> bytes:
    return (
        types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=result)
        .model_dump_json(by_alias=True, exclude_unset=True)
        .encode()
    )


@pytest.mark.parametrize("request_id", [0, 7, -3, 2**53, "abc", "é-1", ""])
def test_ids(request_id: str | int) -> None:
    result = {"content": [{"type": "text", "text": "ok"}], "isError": False}
    assert _response_bytes(request_id, result) == sdk_bytes(request_id, result)


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:30] for v in VALUES])
def test_values(value: Any) -> None:
    result = {"content": [{"type": "text", "text": "x"}], "structuredContent": {"v": value}, "isError": False}
    assert _response_bytes(1, result) == sdk_bytes(1, result)


def test_random_floats() -> None:
    generator = random.Random(20261125)
    for _ in range(5000):
        value = generator.uniform(-1, 1) * 10 ** generator.randint(-40, 40)
        result = {"structuredContent": {"v": value}}
        assert _response_bytes(9, result) == sdk_bytes(9, result), value
