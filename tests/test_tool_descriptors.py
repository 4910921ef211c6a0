"""Tool descriptors ChatGPT accepts, for every connector, in the two auth modes that list tools per caller.

One Bridgehead per mode serves all five connector types at once: documents (the sample corpus), SQL
(on SQLite), OpenAPI (the test tracker service), an upstream MCP server (over stdio, including a tool
whose schemas are written in draft-07) and plain Python functions. The whole surface from tools/list
is walked on the wire:

- every input and output schema is valid JSON Schema 2020-12 and avoids what ChatGPT rejects
  (array-form ``items``, ``additionalItems``, ``definitions``, ``dependencies``, a ``$schema`` of another
  draft, references into ``#/definitions``), with ``type: object`` at the top;
- ``readOnlyHint``, ``destructiveHint`` and ``openWorldHint`` are set on every tool;
- the per-tool ``securitySchemes`` are on the tool and in its ``_meta``, identical;
- every ``mcp/www_authenticate`` challenge a denied call carries has ``error`` and ``error_description``
  (and so does the ``WWW-Authenticate`` header of a 403).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from bridgehead.config import sample_corpus_path
from tests.auth.conftest import PASSWORD, add_user
from tests.auth.flow import obtain_tokens
from tests.auth.test_modes import McpSession, read_message, session
from tests.conftest import RunningServer
from tests.connectors.openapi_service import API_KEY, Tracker, run_tracker
from tests.connectors.sql_databases import shop_database
from tests.connectors.test_sql_mcp import QUERIES, STATEMENTS

UPSTREAM = str(Path(__file__).parent / "connectors" / "upstream_server.py")
SHOP_URL_ENV = "BRIDGEHEAD_TEST_DESCRIPTOR_SHOP"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
HINTS = ("readOnlyHint", "destructiveHint", "openWorldHint")
# Keywords of older drafts that 2020-12 replaced; ChatGPT refuses tools that use them.
OLD_KEYWORDS = {"definitions", "dependencies", "additionalItems", "$recursiveRef", "$recursiveAnchor"}
SCHEMA_VALUED = (
    "additionalProperties",
    "items",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs")


def schema_problems(schema: Any, where: str) -> list[str]:
    """What ChatGPT would object to in ``schema`` (a schema position; property names are not keywords)."""
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return [f"{where}: not a schema ({type(schema).__name__})"]
    problems = [f"{where}: uses {key!r}" for key in OLD_KEYWORDS & set(schema)]
    if "$schema" in schema and schema["$schema"] != DIALECT:
        problems.append(f"{where}: $schema {schema['$schema']!r}")
    if isinstance(schema.get("items"), list):
        problems.append(f"{where}: array-form items")
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(schema.get(bound), bool):
            problems.append(f"{where}: boolean {bound}")
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and not (ref == "#" or ref.startswith("#/$defs/")):
        problems.append(f"{where}: $ref {ref!r}")
    for key in SCHEMA_VALUED:
        if key in schema and not isinstance(schema[key], list):
            problems += schema_problems(schema[key], f"{where}/{key}")
    for key in SCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or []):
            problems += schema_problems(sub, f"{where}/{key}/{i}")
    for key in SCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            problems += schema_problems(sub, f"{where}/{key}/{name}")
    return problems


def descriptor_problems(tool: dict[str, Any]) -> list[str]:
    name = tool["name"]
    problems: list[str] = []
    for field in ("inputSchema", "outputSchema"):
        schema = tool.get(field)
        if schema is None:
            if field == "inputSchema":
                problems.append(f"{name}: no inputSchema")
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:  # jsonschema's SchemaError, reported with the tool
            problems.append(f"{name}.{field}: not valid 2020-12: {str(exc).splitlines()[0]}")
        if schema.get("type") != "object":
            problems.append(f"{name}.{field}: top-level type is {schema.get('type')!r}, not 'object'")
        problems += schema_problems(schema, f"{name}.{field}")
    annotations = tool.get("annotations") or {}
    problems += [f"{name}: {hint} not set" for hint in HINTS if not isinstance(annotations.get(hint), bool)]
    meta_schemes = (tool.get("_meta") or {}).get("securitySchemes")
    if not meta_schemes:
        problems.append(f"{name}: no _meta.securitySchemes")
    if tool.get("securitySchemes") != meta_schemes:
        problems.append(
            f"{name}: securitySchemes on the tool differ from _meta ({tool.get('securitySchemes')})"
        )
    return problems


def challenge_params(challenge: str) -> dict[str, str]:
    assert challenge.startswith("Bearer "), challenge
    return dict(re.findall(r'(\w+)="([^"]*)"', challenge))


def assert_challenge(challenge: str) -> None:
    params = challenge_params(challenge)
    assert params.get("error") and params.get("error_description"), challenge
    assert params.get("resource_metadata", "").startswith("http"), challenge


@pytest.fixture(scope="module")
def tracker() -> Iterator[Tracker]:
    with run_tracker() as running:
        yield running


@pytest.fixture
def every_connector(
    tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    key = tmp_path / "tracker-key"
    key.write_text(API_KEY + "\n")
    with shop_database("sqlite", tmp_path) as shop_url:
        monkeypatch.setenv(SHOP_URL_ENV, shop_url)
        yield [
            {
                "type": "documents",
                "name": "docs",
                "folders": [{"path": str(sample_corpus_path()), "name": "northwind"}],
            },
            {
                "type": "sql",
                "name": "shop",
                "tool_prefix": "shop_",
                "url_env": SHOP_URL_ENV,
                "queries": QUERIES,
                "statements": STATEMENTS,
            },
            {
                "type": "openapi",
                "name": "tracker",
                "tool_prefix": "tracker_",
                "spec": tracker.spec_url,
                "auth": {"type": "header", "name": "X-API-Key", "value_file": str(key)},
                "allow_private_network": True,
            },
            {
                "type": "upstream",
                "name": "up",
                "tool_prefix": "up_",
                "transport": "stdio",
                "command": sys.executable,
                "args": [UPSTREAM, "stdio"],
                "deny": ["secret_admin_tool"],
            },
            {"type": "functions", "name": "ops", "module": "tests.connectors.fixture_functions"},
        ]


def start(
    server_factory: Callable[..., RunningServer], tmp_path: Path, mode: str, connectors: list[dict[str, Any]]
) -> RunningServer:
    store = f"sqlite+aiosqlite:///{tmp_path / f'descriptors-{mode}.db'}"
    add_user(store, "alice", "member")
    return server_factory(auth={"mode": mode}, store={"url": store}, connectors=connectors)


def check_surface(tools: dict[str, dict[str, Any]]) -> None:
    prefixes = ("shop_", "tracker_", "up_")
    assert {"search", "fetch", "price_quote", "open_ticket", "close_ticket"} <= set(tools)
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in tools), f"no {prefix}* tools"
    assert "up_legacy_route" in tools, sorted(tools)
    problems = [problem for tool in tools.values() for problem in descriptor_problems(tool)]
    assert not problems, "\n".join(problems)


def test_every_tool_in_mixed_mode(
    server_factory: Callable[..., RunningServer], tmp_path: Path, every_connector: list[dict[str, Any]]
) -> None:
    server = start(server_factory, tmp_path, "mixed", every_connector)
    mcp = session(server)  # mixed mode lists the whole surface without a token
    try:
        tools = mcp.tools()
        check_surface(tools)
        # The relayed draft-07 tool still works through its 2020-12 schema.
        routed = mcp.call("up_legacy_route", {"at": [3, -4], "tags": ["a", "b"], "unit": "km"})
        assert not routed.get("isError"), routed
        assert routed["structuredContent"] == {"distance": 7}
        # …and keeps its meaning: a point has two coordinates (array-form items with additionalItems: false).
        refused = read_message(
            mcp.request("tools/call", {"name": "up_legacy_route", "arguments": {"at": [1, 2, 3]}})
        )
        assert refused["error"]["code"] == -32602 and "at most 2 items" in refused["error"]["message"]
        # Every tool that needs a sign-in answers an anonymous call with a well-formed challenge.
        needs_login = [t for t in tools.values() if {"type": "noauth"} not in t["securitySchemes"]]
        assert needs_login
        for tool in needs_login:
            result = mcp.call(tool["name"], {})
            assert result.get("isError"), (tool["name"], result)
            challenges = result["_meta"]["mcp/www_authenticate"]
            assert challenges, tool["name"]
            for challenge in challenges:
                assert_challenge(challenge)
    finally:
        mcp.close()


def test_every_tool_in_oauth_mode(
    server_factory: Callable[..., RunningServer], tmp_path: Path, every_connector: list[dict[str, Any]]
) -> None:
    server = start(server_factory, tmp_path, "oauth", every_connector)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        tokens = obtain_tokens(http, server.base_url, "alice", PASSWORD)
        read_only = obtain_tokens(http, server.base_url, "alice", PASSWORD, scope="tools:read")
    mcp = session(server, tokens["access_token"])
    try:
        check_surface(mcp.tools())
    finally:
        mcp.close()
    # A call that needs more scope than the token has is a 403 whose challenge names what is missing.
    limited = McpSession(server, read_only["access_token"])
    try:
        limited.initialize()
        denied = limited.request("tools/call", {"name": "close_ticket", "arguments": {"number": 1}})
        assert denied.status_code == 403
        assert_challenge(denied.headers["www-authenticate"])
        assert challenge_params(denied.headers["www-authenticate"])["error"] == "insufficient_scope"
    finally:
        limited.close()
