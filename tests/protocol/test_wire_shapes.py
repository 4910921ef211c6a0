"""The fast path's shortcuts give what the SDK's own validation, models and result shaping give.

``plain_call_params`` may only say yes where the SDK's surface validation passes;
``handshake_call_result`` must give, byte for byte, what ``serialize_server_result``
gives, or None; ``plain_result_dump`` what the result models dump. Held to the SDK on
hand-picked shapes and on random ones.
"""

from __future__ import annotations

import json
import random
from typing import Any, cast

import mcp_types as types
import pytest
from mcp_types import methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from bridgehead.connectors.base import ToolOutput
from bridgehead.protocol.tools import plain_result_dump, tool_result
from bridgehead.protocol.wire_shapes import (
    PARAMS_ENABLED,
    RESULTS_ENABLED,
    handshake_call_result,
    plain_call_params,
)

VERSIONS = [*HANDSHAKE_PROTOCOL_VERSIONS, "2026-07-28", "1999-01-01"]


def test_the_shortcuts_are_enabled_for_the_pinned_sdk() -> None:
    # If an SDK upgrade changes the surface, the shortcuts switch themselves off: this says so.
    assert PARAMS_ENABLED and RESULTS_ENABLED


PARAMS: list[tuple[Any, bool]] = [
    ({"name": "echo"}, True),
    ({"name": "echo", "arguments": {}}, True),
    ({"name": "echo", "arguments": {"text": "hi", "n": [1, None, {"x": True}]}}, True),
    ({"name": ""}, True),
    ({"name": "echo", "arguments": None}, False),
    ({"name": "echo", "arguments": []}, False),
    ({"name": "echo", "arguments": "x"}, False),
    ({"name": 5}, False),
    ({"name": None}, False),
    ({}, False),
    ({"arguments": {}}, False),
    ({"name": "echo", "_meta": {"progressToken": 1}}, False),
    ({"name": "echo", "arguments": {}, "_meta": {"progressToken": "t"}}, False),
    ({"name": "echo", "task": {"ttl": 5}}, False),
    ({"name": "echo", "extra": 1}, False),
    (None, False),
    ([], False),
]


@pytest.mark.parametrize(("params", "plain"), PARAMS)
@pytest.mark.parametrize("version", VERSIONS)
def test_plain_params_pass_the_sdk_validation(params: Any, plain: bool, version: str) -> None:
    handshake = version in HANDSHAKE_PROTOCOL_VERSIONS
    assert plain_call_params(version, params) is (plain and handshake)
    if plain and handshake:
        methods.validate_client_request("tools/call", version, params)  # does not raise
        types.CallToolRequestParams.model_validate(params, by_name=False)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth < 3 and kind < 0.2:
        return {
            rng.choice(["a", "b", "name", "_meta", "text", "type"]): random_json(rng, depth + 1)
            for _ in range(3)
        }
    if depth < 3 and kind < 0.35:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice([None, True, False, 0, -7, 2.5, "", "text", "é", 10**20])


def test_random_params_said_plain_always_validate() -> None:
    rng = random.Random(6)
    said_plain = 0
    for _ in range(3000):
        params: dict[str, Any] = {}
        for key in rng.sample(["name", "arguments", "_meta", "task", "other"], rng.randint(0, 3)):
            params[key] = random_json(rng) if rng.random() < 0.5 else ({} if key == "arguments" else "x")
        version = rng.choice(VERSIONS)
        if plain_call_params(version, params):
            said_plain += 1
            methods.validate_client_request("tools/call", version, params)
    assert said_plain > 50


def text(value: str, **extra: Any) -> types.TextContent:
    return types.TextContent(type="text", text=value, **extra)


RESULTS: list[tuple[types.CallToolResult, bool]] = [
    (types.CallToolResult(content=[text("hi")]), True),
    (types.CallToolResult(content=[text("hi")], is_error=True), True),
    (types.CallToolResult(content=[], is_error=False), True),
    (types.CallToolResult(content=[text("a"), text("b")], structured_content={"k": [1, None]}), True),
    (types.CallToolResult(content=[text("a", _meta={"m": None})], _meta={"x": {"y": 1}}), True),
    (types.CallToolResult(content=[text("ü" * 3)], structured_content={}), True),
    (types.CallToolResult(content=[text("a", annotations=types.Annotations(priority=0.5))]), False),
    (
        types.CallToolResult(content=[types.ImageContent(type="image", data="AAAA", mime_type="image/png")]),
        False,
    ),
    (
        types.CallToolResult(
            content=[types.ResourceLink(type="resource_link", uri="https://x.example/a", name="a")]
        ),
        False,
    ),
]


def wire(value: Any) -> str:
    """JSON text that keeps key order (the stdlib encoder: random values include integers past 64 bits)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sdk_text(version: str, dumped: dict[str, Any]) -> str:
    return wire(methods.serialize_server_result("tools/call", version, dumped))


@pytest.mark.parametrize(("result", "plain"), RESULTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_plain_results_are_shaped_as_the_sdk_shapes_them(
    result: types.CallToolResult, plain: bool, version: str
) -> None:
    dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    shaped = handshake_call_result(version, dumped)
    if not (plain and version in HANDSHAKE_PROTOCOL_VERSIONS):
        assert shaped is None
        return
    assert shaped is not None
    assert wire(shaped) == sdk_text(version, dumped)  # same keys, same order


def test_random_results_are_shaped_as_the_sdk_shapes_them() -> None:
    rng = random.Random(7)
    shortcut = 0
    for _ in range(2000):
        blocks: list[Any] = []
        for _ in range(rng.randint(0, 3)):
            if rng.random() < 0.15:
                blocks.append(types.ImageContent(type="image", data="AAAA", mime_type="image/png"))
            else:
                meta = {"_meta": {"k": random_json(rng)}} if rng.random() < 0.2 else {}
                blocks.append(text(rng.choice(["", "x", "é", "a\nb", '"q"']), **meta))
        kwargs: dict[str, Any] = {}
        if rng.random() < 0.5:
            kwargs["is_error"] = rng.random() < 0.5
        if rng.random() < 0.3:
            kwargs["structured_content"] = {"v": random_json(rng)}
        if rng.random() < 0.2:
            kwargs["_meta"] = {"m": random_json(rng)}
        result = types.CallToolResult(content=blocks, **kwargs)
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        version = rng.choice(HANDSHAKE_PROTOCOL_VERSIONS)
        shaped = handshake_call_result(version, dumped)
        if shaped is not None:
            shortcut += 1
            assert wire(shaped) == sdk_text(version, dumped), dumped
        else:
            assert any(isinstance(block, types.ImageContent) for block in blocks)
    assert shortcut > 1000


def test_results_with_keys_the_shortcut_does_not_know_go_to_the_sdk() -> None:
    version = HANDSHAKE_PROTOCOL_VERSIONS[-1]
    base = {"content": [{"type": "text", "text": "x"}]}
    assert handshake_call_result(version, {**base, "unknownKey": 1}) is None
    assert handshake_call_result(version, {**base, "isError": "yes"}) is None
    assert handshake_call_result(version, {**base, "structuredContent": [1]}) is None
    assert handshake_call_result(version, {"content": [{"type": "text", "text": 1}]}) is None
    assert handshake_call_result(version, {"content": [{"type": "text", "text": "x", "extra": 1}]}) is None
    assert handshake_call_result(version, {"isError": False}) is None


OUTPUTS: list[tuple[ToolOutput, bool]] = [
    (ToolOutput("hi"), True),
    (ToolOutput("", is_error=True), True),
    (ToolOutput('quotes " and \\ and é and \n'), True),
    (ToolOutput("with structure", {"k": 1}), False),
    (ToolOutput("relayed", content=[types.TextContent(type="text", text="relayed")]), False),
    (ToolOutput(cast(str, 5)), False),  # a connector that broke its type: the models decide
    (ToolOutput("x", is_error=cast(bool, 1)), False),
]


@pytest.mark.parametrize(("output", "plain"), OUTPUTS)
def test_plain_result_dump_is_the_model_dump(output: ToolOutput, plain: bool) -> None:
    dumped = plain_result_dump(output)
    if not plain:
        assert dumped is None
        return
    expected = tool_result(output).model_dump(by_alias=True, mode="json", exclude_none=True)
    assert dumped is not None and wire(dumped) == wire(expected)


def test_random_text_outputs_dump_as_the_models_do() -> None:
    rng = random.Random(8)
    alphabet = ["a", "é", "🦊", '"', "\\", "\n", "\x00", " ", "{", "}"]
    for _ in range(2000):
        output = ToolOutput(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))), is_error=rng.random() < 0.5
        )
        expected = tool_result(output).model_dump(by_alias=True, mode="json", exclude_none=True)
        dumped = plain_result_dump(output)
        assert dumped is not None and wire(dumped) == wire(expected)
