"""The openapi connector against a real ticket tracker on 127.0.0.1, through the real tool surface."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError

from bridgehead.config import ConfigError
from bridgehead.connectors.base import CallContext, ConnectorContext
from bridgehead.connectors.openapi.operations import snake_case, tool_names
from bridgehead.connectors.openapi.parameters import ParameterError, header_value, path_value, query_pairs
from bridgehead.connectors.openapi.schema import SchemaConverter
from bridgehead.connectors.openapi.spec import OpenAPIDocument, SpecError, parse_document
from bridgehead.connectors.registry import build_connectors, collect_tools
from bridgehead.protocol.tools import ToolSurface
from bridgehead.ssrf import AddressGuard, BlockedAddressError, address_kind
from bridgehead.store import Database
from tests.conftest import free_port, make_settings
from tests.connectors.openapi_service import (
    API_KEY,
    BASIC_PASSWORD,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    Tracker,
    openapi_31,
    run_tracker,
)

CTX = CallContext(base_url="https://bridgehead.example")
FAST = {"retry_backoff": 0.01, "timeout": 5}


@pytest.fixture(scope="module")
def tracker() -> Iterator[Tracker]:
    with run_tracker() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_tracker(request: pytest.FixtureRequest) -> None:
    if "tracker" in request.fixturenames:
        request.getfixturevalue("tracker").state.reset()


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ConnectorContext]:
    database = Database("sqlite+aiosqlite:///:memory:")
    try:
        yield ConnectorContext(make_settings(tmp_path), database)
    finally:
        await database.close()


class Served:
    """Connectors built through the registry (the fallback next to `documents`), and their tool surface."""

    def __init__(self, context: ConnectorContext, *configs: dict[str, Any]) -> None:
        self.connectors = build_connectors(list(configs), context)
        self.surface = ToolSurface(collect_tools(self.connectors))

    @property
    def names(self) -> set[str]:
        return {tool.name for tool in self.surface.listing}

    def listed(self, name: str) -> Any:
        return self.surface.listed(name)

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        return await self.surface.call(name, arguments or {}, CTX)

    async def ok(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.call(name, arguments)
        assert not result.is_error, result.content[0].text
        assert len(result.content) == 1
        data = orjson.loads(result.content[0].text)
        assert data == result.structured_content
        assert isinstance(data, dict)
        [tool] = [t for t in self.surface.tools if t.name == name]
        assert tool.output_schema is not None
        Draft202012Validator(tool.output_schema).validate(data)
        return data

    async def error(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        result = await self.call(name, arguments)
        assert result.is_error, result.content
        text = result.content[0].text
        assert isinstance(text, str)
        return text

    async def close(self) -> None:
        for connector in self.connectors:
            await connector.stop()


@pytest.fixture
async def serve(context: ConnectorContext) -> AsyncIterator[Any]:
    """``serve(spec=..., **settings)`` builds an openapi connector named ``tracker``; closed afterwards."""
    built: list[Served] = []

    def make(*extra: dict[str, Any], **config: Any) -> Served:
        configs = [{"type": "openapi", "name": "tracker", **config}, *extra] if config else list(extra)
        served = Served(context, *configs)
        built.append(served)
        return served

    yield make
    for served in built:
        await served.close()


def local(tracker: Tracker, **config: Any) -> dict[str, Any]:
    """Settings for a connector on the tracker's 3.1 document, private network allowed."""
    return {"spec": tracker.spec_url, "allow_private_network": True, **FAST, **config}


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON value."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# -- pure logic: names, schemas, parameters, addresses ---------------------------------------


def test_snake_case_names() -> None:
    assert snake_case("listTickets") == "list_tickets"
    assert snake_case("getHTTPStatusCode") == "get_http_status_code"
    assert snake_case("tickets.list-all") == "tickets_list_all"
    assert snake_case("GET /tickets/{ticket_id}") == "get_tickets_ticket_id"


def test_tool_names_are_unique_and_short() -> None:
    doc = OpenAPIDocument.from_mapping(
        {
            "openapi": "3.1.0",
            "paths": {
                "/a": {"get": {"operationId": "listThings"}, "post": {"operationId": "list_things"}},
                "/b": {"get": {"operationId": "x" * 100}, "post": {"operationId": "x" * 90}},
                "/c": {"get": {"operationId": "renamed"}},
            },
        }
    )
    from bridgehead.connectors.openapi.operations import read_operations

    operations, warnings = read_operations(doc)
    assert not warnings
    names = tool_names(operations, {"renamed": "list_things"}, max_length=60)
    assert names["renamed"] == "list_things"
    assert len(set(names.values())) == 5
    assert all(len(name) <= 60 for name in names.values())
    assert names["listThings"] == "list_things_2"
    assert names["list_things"] == "list_things_3"


def test_operations_the_connector_cannot_call_are_skipped_with_a_warning() -> None:
    from bridgehead.connectors.openapi.operations import read_operations

    doc = OpenAPIDocument.from_mapping(
        {
            "openapi": "3.1.0",
            "paths": {
                "/upload": {
                    "post": {
                        "operationId": "upload",
                        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {}}}},
                    }
                },
                "/session": {
                    "get": {
                        "operationId": "session",
                        "parameters": [{"name": "sid", "in": "cookie", "required": True}],
                    }
                },
                "/pets": {
                    "get": {
                        "operationId": "pets",
                        "parameters": [{"name": "q", "in": "query", "schema": {"$ref": "common.yaml#/Q"}}],
                    },
                    "put": {
                        "operationId": "putPets",
                        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {}}}},
                    },
                },
            },
        }
    )
    operations, warnings = read_operations(doc)
    assert [op.key for op in operations] == ["putPets"]
    assert (
        operations[0].body is not None
        and operations[0].body.media_type == "application/x-www-form-urlencoded"
    )
    assert any("POST /upload" in w and "multipart/form-data" in w for w in warnings)
    assert any("GET /session" in w and "cookie" in w for w in warnings)
    assert any("GET /pets" in w and "outside the document" in w for w in warnings)


def test_openapi_30_schemas_become_json_schema_2020_12() -> None:
    doc = OpenAPIDocument.from_mapping(
        {
            "openapi": "3.0.3",
            "components": {
                "schemas": {
                    "Pet": {
                        "type": "object",
                        "discriminator": {"propertyName": "kind"},
                        "x-vendor": True,
                        "required": ["id", "name"],
                        "properties": {
                            "id": {"type": "integer", "readOnly": True},
                            "name": {"type": "string", "example": "Rex", "pattern": "^\\p{L}+$"},
                            "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
                            "tag": {"type": "string", "nullable": True, "enum": ["a", "b"]},
                            "owner": {"$ref": "#/components/schemas/Owner", "nullable": True},
                            "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                            "x-note": {"type": "string"},
                        },
                    },
                    "Owner": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            },
        }
    )
    schema = SchemaConverter(doc).convert({"$ref": "#/components/schemas/Pet"})
    Draft202012Validator.check_schema(schema)
    text = json.dumps(schema)
    for gone in ('"nullable"', '"example"', '"discriminator"', '"x-vendor"', '"readOnly"', "\\\\p{L}"):
        assert gone not in text, gone
    assert schema["required"] == ["name"]
    assert "id" not in schema["properties"]
    props = schema["properties"]
    assert props["name"]["examples"] == ["Rex"]
    assert props["weight"] == {"type": "number", "exclusiveMinimum": 0}
    assert props["tag"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert props["owner"]["anyOf"][1] == {"type": "null"}
    assert props["pair"] == {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}
    assert "x-note" in props  # a property name, not an extension
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"name": "Rex", "tag": None, "owner": None, "weight": 2})
    assert not validator.is_valid({"name": "Rex", "weight": 0})


def test_recursive_references_go_to_defs() -> None:
    doc = OpenAPIDocument.from_mapping(
        {
            "openapi": "3.1.0",
            "components": {
                "schemas": {
                    "Node": {
                        "type": "object",
                        "properties": {
                            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                            "edge": {"$ref": "#/components/schemas/Edge"},
                        },
                    },
                    "Edge": {"type": "object", "properties": {"to": {"$ref": "#/components/schemas/Node"}}},
                    "Self": {"$ref": "#/components/schemas/Self"},
                }
            },
        }
    )
    converter = SchemaConverter(doc)
    schema = {
        "type": "object",
        "properties": {"root": converter.convert({"$ref": "#/components/schemas/Node"})},
    }
    schema["$defs"] = converter.definitions()
    Draft202012Validator.check_schema(schema)
    assert set(schema["$defs"]) == {"Node"}
    assert schema["properties"]["root"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    tree = {"root": {"children": [{"children": [], "edge": {"to": {"children": [{}]}}}]}}
    validator = Draft202012Validator(schema)
    assert validator.is_valid(tree)
    assert not validator.is_valid({"root": {"children": [{"children": "no"}]}})

    # With no inlining budget every reference is a definition, and the conversion still ends.
    thrifty = SchemaConverter(doc, inline_budget=0)
    converted = thrifty.convert({"$ref": "#/components/schemas/Self"})
    assert converted == {"$ref": "#/$defs/Self"}
    assert thrifty.definitions() == {"Self": {"$ref": "#/$defs/Self"}}


def test_external_and_broken_references_are_refused() -> None:
    doc = OpenAPIDocument.from_mapping({"openapi": "3.0.0", "paths": {}})
    with pytest.raises(SpecError, match="outside the document"):
        doc.resolve("common.yaml#/Pet")
    with pytest.raises(SpecError, match="does not resolve"):
        doc.resolve("#/components/schemas/Missing")
    with pytest.raises(SpecError, match=r"only 3\.0\.x and 3\.1\.x"):
        OpenAPIDocument.from_mapping({"openapi": "2.0"})
    with pytest.raises(SpecError, match=r"Swagger 2\.0"):
        OpenAPIDocument.from_mapping({"swagger": "2.0"})
    assert (
        parse_document(b"openapi: 3.1.0\ninfo: {version: 2024-01-01}\n", "x")["info"]["version"]
        == "2024-01-01"
    )


def test_default_server_url() -> None:
    servers = {
        "openapi": "3.1.0",
        "servers": [{"url": "/api/{version}", "variables": {"version": {"default": "v2"}}}],
    }
    fetched = OpenAPIDocument.from_mapping(servers, "https://tickets.example.com/specs/openapi.json")
    assert fetched.default_server() == "https://tickets.example.com/api/v2"
    assert OpenAPIDocument.from_mapping(servers, "/etc/specs/openapi.json").default_server() is None
    bare = OpenAPIDocument.from_mapping({"openapi": "3.0.1"}, "http://127.0.0.1:9/docs/openapi.json")
    assert bare.default_server() == "http://127.0.0.1:9/"


def test_parameter_styles() -> None:
    assert path_value("id", "a/b c") == "a%2Fb%20c"
    assert path_value("id", [1, 2], "label") == ".1,2"
    assert path_value("id", {"a": 1, "b": True}, "matrix", explode=True) == ";a=1;b=true"
    assert path_value("id", ["x", "y"], "matrix") == ";id=x,y"
    for bad in ("..", ".", ""):
        with pytest.raises(ParameterError):
            path_value("id", bad)
    assert query_pairs("tag", ["a", "b"]) == [("tag", "a"), ("tag", "b")]
    assert query_pairs("tag", ["a", "b"], explode=False) == [("tag", "a,b")]
    assert query_pairs("tag", ["a", "b"], "pipeDelimited", explode=False) == [("tag", "a|b")]
    assert query_pairs("filter", {"state": "open", "n": 2}, "deepObject") == [
        ("filter[state]", "open"),
        ("filter[n]", "2"),
    ]
    assert query_pairs("flag", False) == [("flag", "false")]
    assert header_value("X-Ids", [1, 2]) == "1,2"
    with pytest.raises(ParameterError):
        header_value("X-Id", "a\r\nX-Evil: 1")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_the_guard_opens_private_ranges_only() -> None:
    strict, relaxed = AddressGuard(False), AddressGuard(True)
    strict.check("api.example.com", "93.184.216.34")
    relaxed.check("localhost", "127.0.0.1")
    relaxed.check("db", "10.0.0.5")
    with pytest.raises(BlockedAddressError, match="allow_private_network"):
        strict.check("localhost", "127.0.0.1")
    for address in ("169.254.169.254", "224.0.0.251", "0.0.0.0"):
        with pytest.raises(BlockedAddressError, match="never connects"):
            relaxed.check("x", address)


# -- the tool list -----------------------------------------------------------------------------


async def test_tools_from_the_31_document(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    assert {"list_tickets", "create_ticket", "get_ticket", "replace_ticket", "update_ticket"} <= served.names
    assert "get_health" in served.names  # no operationId: named from method and path
    for tool in served.surface.listing:
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None and tool.output_schema["required"] == [
            "status",
            "headers",
            "body",
        ]
        assert len(tool.name) <= 64 and tool.name.replace("_", "").isalnum()
        for node in walk(tool.input_schema):
            assert not any(key.startswith("x-") or key in ("nullable", "example") for key in node)
            assert not isinstance(node.get("items"), list)
    get = served.listed("get_ticket")
    assert get.title == "Get a ticket"
    assert "`GET /tickets/{ticket_id}` on Ticket Tracker" in get.description
    assert get.input_schema["required"] == ["ticket_id"]
    assert get.input_schema["properties"]["ticket_id"] == {
        "type": "integer",
        "minimum": 1,
        "description": "The ticket's number.",
    }
    listing = served.listed("list_tickets").input_schema
    assert set(listing["properties"]) == {"status", "tag", "limit", "X-Request-Id"}  # Accept is not offered
    assert listing["properties"]["status"] == {"type": "string", "enum": ["open", "closed"]}
    assert "required" not in listing
    create = served.listed("create_ticket").input_schema
    assert create["required"] == ["body"]
    body = create["properties"]["body"]
    assert "id" not in body["properties"] and body["required"] == ["title", "status"]
    assert body["properties"]["subtasks"]["items"] == {"$ref": "#/$defs/Ticket"}
    assert set(create["$defs"]) == {"Ticket"}
    replace = served.listed("replace_ticket").input_schema
    assert replace["required"] == ["ticket_id", "body"]


async def test_annotations_follow_the_method(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    expected = {
        "list_tickets": (True, False, True),
        "create_ticket": (False, False, False),
        "replace_ticket": (False, False, True),
        "update_ticket": (False, False, False),
        "delete_ticket": (False, True, True),
    }
    for name, (read_only, destructive, idempotent) in expected.items():
        hints = served.listed(name).annotations
        assert hints.read_only_hint is read_only, name
        assert hints.destructive_hint is destructive, name
        assert hints.idempotent_hint is idempotent, name
        assert hints.open_world_hint is True, name


async def test_tools_from_the_30_yaml_document(tracker: Tracker, serve: Any) -> None:
    served = serve(spec=tracker.spec_30_url, allow_private_network=True, **FAST)
    assert served.names == {"list_tickets", "create_ticket", "get_ticket", "delete_ticket"}
    since = served.listed("list_tickets").input_schema["properties"]["since"]
    assert since == {"type": "string", "format": "date", "examples": ["2024-01-31"]}
    create = served.listed("create_ticket").input_schema
    body = create["properties"]["body"]
    assert body["properties"]["description"] == {"type": ["string", "null"]}
    assert body["properties"]["estimate_hours"] == {"type": "number", "maximum": 80, "exclusiveMinimum": 0}
    assert body["properties"]["assignee"]["anyOf"][-1] == {"type": "null"}
    assert "id" not in body["properties"]
    assert "Comment" in create["$defs"]
    # The 3.0 server URL with its variables at their defaults is the base URL.
    created = await served.ok("create_ticket", {"body": {"title": "From 3.0", "estimate_hours": 1.5}})
    assert created["status"] == 201
    got = await served.ok("get_ticket", {"ticket_id": created["body"]["id"]})
    assert got["body"]["title"] == "From 3.0"
    assert tracker.state.hits["GET /openapi-3.0.yaml"] == 1


async def test_spec_from_a_yaml_file_with_base_url(tracker: Tracker, serve: Any, tmp_path: Path) -> None:
    spec = tmp_path / "tracker.yaml"
    import yaml

    document = openapi_31("https://unused.example")
    spec.write_text(yaml.safe_dump(document))
    served = serve(spec=str(spec), base_url=tracker.base_url, allow_private_network=True, **FAST)
    assert (await served.ok("get_health"))["body"] == {"ok": True}


# -- calls -----------------------------------------------------------------------------------


async def test_create_get_list_update_delete(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    created = await served.ok(
        "create_ticket", {"body": {"title": "Printer on fire", "status": "open", "tags": ["hw", "urgent"]}}
    )
    assert created["status"] == 201
    assert created["headers"]["location"] == "/tickets/1"
    assert created["body"]["id"] == 1
    await served.ok(
        "create_ticket", {"body": {"title": "Coffee machine", "status": "closed", "tags": ["hw"]}}
    )

    got = await served.ok("get_ticket", {"ticket_id": 1})
    assert got["body"]["title"] == "Printer on fire"

    listed = await served.ok(
        "list_tickets", {"status": "open", "tag": ["hw", "urgent"], "limit": 5, "X-Request-Id": "req-7"}
    )
    assert [t["title"] for t in listed["body"]["tickets"]] == ["Printer on fire"]
    assert listed["headers"]["x-request-id"] == "req-7"
    assert listed["headers"]["x-total-count"] == "1"
    assert listed["body"]["accept"].startswith("application/json")

    replaced = await served.ok(
        "replace_ticket", {"ticket_id": 2, "body": {"title": "Kettle", "status": "open"}}
    )
    assert replaced["body"] == {"title": "Kettle", "status": "open", "id": 2}
    patched = await served.ok("update_ticket", {"ticket_id": 2, "body": {"status": "closed"}})
    assert patched["body"]["status"] == "closed"

    deleted = await served.ok("delete_ticket", {"ticket_id": 2})
    assert deleted["status"] == 204 and deleted["body"] is None
    missing = await served.error("get_ticket", {"ticket_id": 2})
    assert missing.startswith("GET /tickets/{ticket_id} failed: HTTP 404 Not Found")
    assert "no ticket 2" in missing


async def test_arguments_are_validated_before_any_request(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    with pytest.raises(MCPError, match="ticket_id"):
        await served.call("get_ticket", {})
    with pytest.raises(MCPError, match="ticket_id"):
        await served.call("get_ticket", {"ticket_id": "1; DROP"})
    with pytest.raises(MCPError, match=r"body\.title"):
        await served.call("create_ticket", {"body": {"title": "", "status": "open"}})
    with pytest.raises(MCPError, match="unexpected argument"):
        await served.call("list_tickets", {"verbose": True})
    with pytest.raises(MCPError, match="'id' was unexpected"):  # readOnly: the server sets it
        await served.call("create_ticket", {"body": {"title": "x", "status": "open", "id": 5}})
    header = await served.error("list_tickets", {"X-Request-Id": "a\r\nX-Admin: 1"})
    assert "line breaks" in header
    assert tracker.state.hits["GET /tickets"] == 0


async def test_same_origin_redirects_are_followed(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    await served.ok("create_ticket", {"body": {"title": "One", "status": "open"}})
    followed = await served.ok("legacy_tickets")
    assert [t["title"] for t in followed["body"]["tickets"]] == ["One"]
    assert tracker.state.hits["GET /legacy/tickets"] == 1 and tracker.state.hits["GET /tickets"] == 1


# -- backend auth ----------------------------------------------------------------------------


async def test_api_key_header(
    tracker: Tracker, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_KEY", API_KEY)
    served = serve(**local(tracker, auth={"type": "header", "name": "X-API-Key", "value_env": "TRACKER_KEY"}))
    assert "X-API-Key" not in served.listed("list_reports").input_schema["properties"]
    assert (await served.ok("list_reports"))["body"] == {"reports": ["weekly", "monthly"]}
    echoed = await served.ok("echo_headers")
    assert echoed["body"]["headers"]["x-api-key"] == "[redacted]"
    assert API_KEY not in json.dumps(echoed)

    wrong = tmp_path / "wrong-key"
    wrong.write_text("not-the-key\n")
    refused = serve(
        {
            "type": "openapi",
            "name": "wrong",
            **local(tracker, auth={"type": "header", "name": "X-API-Key", "value_file": str(wrong)}),
        }
    )
    message = await refused.error("list_reports")
    assert "HTTP 401" in message and "credentials" in message and "invalid API key" in message


async def test_http_basic(tracker: Tracker, serve: Any, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text(BASIC_PASSWORD + "\n")
    auth = {"type": "basic", "username": BASIC_USER, "password_file": str(password)}
    served = serve(**local(tracker, auth=auth))
    assert (await served.ok("get_audit_log"))["body"]["entries"][0]["who"] == "alice"
    echoed = json.dumps(await served.ok("echo_headers"))
    assert BASIC_PASSWORD not in echoed and "[redacted]" in echoed


async def test_oauth_client_credentials_token_is_cached_and_refreshed(
    tracker: Tracker, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_CLIENT_SECRET", CLIENT_SECRET)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": tracker.token_url,
        "client_id": CLIENT_ID,
        "client_secret_env": "TRACKER_CLIENT_SECRET",
        "scopes": ["metrics:read"],
    }
    served = serve(**local(tracker, auth=auth))
    hits = tracker.state.hits
    for _ in range(3):
        assert (await served.ok("get_metrics"))["body"] == {"requests_per_minute": 42}
    assert hits["POST /oauth/token"] == 1 and hits["GET /metrics"] == 3

    # The backend revokes every token: the 401 forces one refresh and one retry.
    tracker.state.tokens.clear()
    assert (await served.ok("get_metrics"))["body"] == {"requests_per_minute": 42}
    assert hits["POST /oauth/token"] == 2 and hits["GET /metrics"] == 5

    # A short-lived token is fetched again once it has (nearly) expired.
    tracker.state.token_lifetime = 1
    tracker.state.tokens.clear()
    await served.ok("get_metrics")
    assert hits["POST /oauth/token"] == 3
    await served.ok("get_metrics")
    assert hits["POST /oauth/token"] == 3
    await asyncio.sleep(1.0)
    await served.ok("get_metrics")
    assert hits["POST /oauth/token"] == 4
    echoed = json.dumps(await served.ok("echo_headers"))
    assert "Bearer [redacted]" in echoed and CLIENT_SECRET not in echoed


async def test_oauth_client_secret_in_the_form_and_a_refused_client(
    tracker: Tracker, serve: Any, tmp_path: Path
) -> None:
    secret = tmp_path / "client-secret"
    secret.write_text(CLIENT_SECRET)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": tracker.token_url,
        "client_id": CLIENT_ID,
        "client_secret_file": str(secret),
        "client_auth": "body",
    }
    served = serve(**local(tracker, auth=auth))
    assert (await served.ok("get_metrics"))["status"] == 200
    secret.write_text("wrong-secret")
    refused = serve({"type": "openapi", "name": "refused", **local(tracker, auth=auth)})
    message = await refused.error("get_metrics")
    assert "cannot authenticate" in message and "HTTP 401" in message and "invalid_client" in message
    assert tracker.state.hits["GET /metrics"] == 1


async def test_secrets_never_reach_the_logs(
    tracker: Tracker, serve: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TRACKER_KEY", API_KEY)
    monkeypatch.setenv("TRACKER_PASSWORD", BASIC_PASSWORD)
    monkeypatch.setenv("TRACKER_CLIENT_SECRET", CLIENT_SECRET)
    served = serve(
        {
            "type": "openapi",
            "name": "keyed",
            "tool_prefix": "keyed_",
            **local(tracker, auth={"type": "header", "name": "X-API-Key", "value_env": "TRACKER_KEY"}),
        },
        {
            "type": "openapi",
            "name": "basic",
            "tool_prefix": "basic_",
            **local(
                tracker, auth={"type": "basic", "username": BASIC_USER, "password_env": "TRACKER_PASSWORD"}
            ),
        },
        {
            "type": "openapi",
            "name": "oauth",
            "tool_prefix": "oauth_",
            **local(
                tracker,
                auth={
                    "type": "oauth2_client_credentials",
                    "token_url": tracker.token_url,
                    "client_id": CLIENT_ID,
                    "client_secret_env": "TRACKER_CLIENT_SECRET",
                },
            ),
        },
    )
    await served.ok("keyed_list_reports")
    await served.ok("basic_get_audit_log")
    await served.ok("oauth_get_metrics")
    await served.error("keyed_explode")
    assert "keyed: GET /reports -> HTTP 200" in caplog.text
    issued = list(tracker.state.tokens)
    for secret in (API_KEY, BASIC_PASSWORD, CLIENT_SECRET, *issued):
        assert secret not in caplog.text


async def test_secrets_cannot_be_written_in_the_config(
    tracker: Tracker, context: ConnectorContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="cannot be written in the configuration file"):
        build_connectors(
            [
                {
                    "type": "openapi",
                    "name": "t",
                    **local(tracker, auth={"type": "header", "name": "X", "value": "s"}),
                }
            ],
            context,
        )
    with pytest.raises(ConfigError, match="exactly one of `password_env` and `password_file`"):
        build_connectors(
            [{"type": "openapi", "name": "t", **local(tracker, auth={"type": "basic", "username": "u"})}],
            context,
        )
    monkeypatch.delenv("TRACKER_UNSET", raising=False)
    with pytest.raises(
        ConfigError, match=r"connectors\.t\.auth: environment variable TRACKER_UNSET is not set"
    ):
        build_connectors(
            [
                {
                    "type": "openapi",
                    "name": "t",
                    **local(tracker, auth={"type": "header", "name": "X", "value_env": "TRACKER_UNSET"}),
                }
            ],
            context,
        )


# -- limits and failures ---------------------------------------------------------------------


async def test_only_idempotent_calls_are_retried(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    hits = tracker.state.hits
    message = await served.error("check_status")
    assert "HTTP 503" in message and "after 3 attempts" in message and "try later" in message
    assert hits["GET /unavailable"] == 3
    message = await served.error("submit_job")
    assert "HTTP 503" in message and "attempts" not in message
    assert hits["POST /unavailable"] == 1
    await served.error("explode")
    assert hits["GET /boom"] == 1  # a 500 is not retried

    no_retries = serve({"type": "openapi", "name": "once", **local(tracker, retries=0)})
    await no_retries.error("check_status")
    assert hits["GET /unavailable"] == 4


async def test_retries_follow_an_idempotent_override(tracker: Tracker, serve: Any) -> None:
    served = serve(
        **local(tracker, overrides={"submitJob": {"idempotent": True}, "checkStatus": {"idempotent": False}})
    )
    await served.error("submit_job")
    await served.error("check_status")
    assert tracker.state.hits["POST /unavailable"] == 3
    assert tracker.state.hits["GET /unavailable"] == 1


async def test_server_error_is_a_tool_error_with_a_trimmed_body(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    message = await served.error("explode")
    assert message.startswith("GET /boom failed: HTTP 500 Internal Server Error\n")
    assert "database on fire" in message
    assert len(message) < 1200 and message.endswith("[…]")


async def test_large_bodies_are_truncated_with_a_note(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    data = await served.ok("export_everything")
    assert data["status"] == 200
    assert isinstance(data["body"], str) and data["body"].startswith('{"items":[{"id":0,')
    assert len(data["body"].encode()) == 256 * 1024
    assert "cut after its first 262144 bytes" in data["truncated"]
    small = serve({"type": "openapi", "name": "small", **local(tracker, max_response_bytes=2048)})
    cut = await small.ok("export_everything")
    assert len(cut["body"]) == 2048 and "2048 bytes" in cut["truncated"]
    whole = await small.ok("get_health")
    assert "truncated" not in whole


async def test_a_slow_backend_times_out_within_the_timeout(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker, timeout=0.6))
    started = time.monotonic()
    message = await served.error("slow_report")
    elapsed = time.monotonic() - started
    assert "did not answer within 0.6 s" in message
    assert elapsed < 1.2
    assert tracker.state.hits["GET /slow"] == 1  # a read timeout leaves no time for another attempt


async def test_an_unreachable_backend_fails_quickly(tracker: Tracker, serve: Any) -> None:
    port = free_port()
    served = serve(**local(tracker, base_url=f"http://127.0.0.1:{port}", timeout=2))
    started = time.monotonic()
    message = await served.error("get_health")
    assert f"cannot connect to http://127.0.0.1:{port}" in message and "after 3 attempts" in message
    assert time.monotonic() - started < 2


async def test_ssrf_guard_without_allow_private_network(
    tracker: Tracker, serve: Any, context: ConnectorContext, tmp_path: Path
) -> None:
    # A spec URL on a loopback address is refused...
    with pytest.raises(ConfigError, match=r"connectors\.t\.spec: cannot fetch .*loopback address"):
        build_connectors([{"type": "openapi", "name": "t", "spec": tracker.spec_url}], context)
    assert tracker.state.hits["GET /openapi.json"] == 0
    # ...and so is a backend there, by address or by a name that resolves to it.
    spec = tmp_path / "tracker.json"
    spec.write_text(json.dumps(openapi_31(tracker.base_url)))
    served = serve(spec=str(spec), **FAST)
    message = await served.error("get_health")
    assert "refused to connect to 127.0.0.1: a loopback address" in message
    assert "allow_private_network = true" in message
    named = serve(
        {
            "type": "openapi",
            "name": "named",
            "spec": str(spec),
            "base_url": f"http://localhost:{tracker.port}",
        }
    )
    assert "refused to connect to localhost (" in await named.error("get_health")
    assert tracker.state.hits["GET /health"] == 0


async def test_redirect_to_the_metadata_address_is_refused(tracker: Tracker, serve: Any) -> None:
    served = serve(**local(tracker))
    started = time.monotonic()
    message = await served.error("fetch_metadata")
    assert time.monotonic() - started < 1
    assert "redirected to http://169.254.169.254/latest/meta-data/iam/" in message
    assert "a link-local address; Bridgehead never connects to those" in message
    assert tracker.state.hits["GET /metadata"] == 1


# -- selection and overrides -----------------------------------------------------------------


async def test_operation_selection(tracker: Tracker, serve: Any) -> None:
    by_tag = serve(**local(tracker, include_tags=["admin"]))
    assert by_tag.names == {"list_reports", "get_audit_log", "get_metrics"}
    mixed = serve(
        {
            "type": "openapi",
            "name": "mixed",
            **local(
                tracker,
                include_paths=["/tickets*"],
                include_operations=["getMetrics", "GET /health"],
                exclude_operations=["deleteTicket", "post /tickets/search"],
            ),
        }
    )
    assert mixed.names == {
        "list_tickets",
        "create_ticket",
        "get_ticket",
        "replace_ticket",
        "update_ticket",
        "get_metrics",
        "get_health",
    }


async def test_overrides_and_read_only_connectors(tracker: Tracker, serve: Any) -> None:
    overrides = {
        "searchTickets": {
            "name": "find_tickets",
            "title": "Find tickets",
            "description": "Full-text search over ticket titles.",
            "read_only": True,
            "idempotent": True,
        },
        "DELETE /tickets/{ticket_id}": {"destructive": False, "open_world": False},
    }
    served = serve(**local(tracker, overrides=overrides))
    find = served.listed("find_tickets")
    assert "search_tickets" not in served.names
    assert (find.title, find.description) == ("Find tickets", "Full-text search over ticket titles.")
    assert find.annotations.read_only_hint is True and find.annotations.idempotent_hint is True
    delete = served.listed("delete_ticket").annotations
    assert delete.destructive_hint is False and delete.open_world_hint is False
    await served.ok("create_ticket", {"body": {"title": "Broken chair", "status": "open"}})
    found = await served.ok("find_tickets", {"body": {"query": "chair"}})
    assert [t["title"] for t in found["body"]["tickets"]] == ["Broken chair"]

    read_only = serve(
        {"type": "openapi", "name": "ro", "read_only": True, **local(tracker, overrides=overrides)}
    )
    assert "find_tickets" in read_only.names
    assert not read_only.names & {
        "create_ticket",
        "replace_ticket",
        "update_ticket",
        "delete_ticket",
        "submit_job",
    }
    assert all(tool.annotations.read_only_hint for tool in read_only.surface.listing)


async def test_references_to_unknown_operations_are_config_errors(
    tracker: Tracker, context: ConnectorContext
) -> None:
    with pytest.raises(ConfigError) as raised:
        build_connectors(
            [
                {
                    "type": "openapi",
                    "name": "t",
                    **local(
                        tracker,
                        include_operations=["listTicketz"],
                        exclude_operations=["nope"],
                        overrides={"deleteTickets": {"read_only": True}},
                    ),
                }
            ],
            context,
        )
    text = str(raised.value)
    assert "connectors.t.include_operations: no callable operation 'listTicketz'" in text
    assert "connectors.t.exclude_operations: no callable operation 'nope'" in text
    assert "connectors.t.overrides.deleteTickets: no callable operation" in text
    with pytest.raises(ConfigError, match=r"connectors\[0\]\.overrides\.getTicket\.name"):
        build_connectors(
            [
                {
                    "type": "openapi",
                    "name": "t",
                    **local(tracker, overrides={"getTicket": {"name": "bad name"}}),
                }
            ],
            context,
        )
