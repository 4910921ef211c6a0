"""The last stage of ChatGPT's connection flow: the tool surface it will show and call.

``tools/list`` validated against the MCP schema by the SDK, then what ChatGPT cares about:
schemas that are valid JSON Schema, descriptions the model can choose by, read-only hints it
asks confirmation by, per-tool ``securitySchemes`` for mixed auth, and the exact ``search`` /
``fetch`` contract of deep research and company knowledge, on real calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import mcp_types as types
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.shared.tool_name_validation import validate_tool_name
from pydantic import BaseModel, ConfigDict, ValidationError

from bridgehead.doctor.challenges import tool_challenge_problems
from bridgehead.doctor.probe import Probe
from bridgehead.doctor.report import Status, excerpt, shorten
from bridgehead.doctor.schemas import dialect_problems
from bridgehead.doctor.transport import explain_mcp, needs_token, open_session, validation_lines

WWW_AUTHENTICATE = "mcp/www_authenticate"

TOOL_CHECKS = (
    "tools.list",
    "tools.schemas",
    "tools.schema_dialect",
    "tools.descriptions",
    "tools.annotations",
    "tools.hints",
    "tools.security_schemes",
    "tools.www_authenticate",
    "tools.call",
    "tools.search",
    "tools.fetch",
    "tools.response_size",
)
HINTS = ("readOnlyHint", "destructiveHint", "openWorldHint")
MAX_PAGES = 50
MIN_DESCRIPTION = 20
DEFAULT_QUERIES = ("test", "information", "help")
LIST_SIZE_WARNING = 250_000
RESULT_SIZE_WARNING = 1_000_000
# Verbs that make a tool sound like it changes something.
WRITE_VERBS = frozenset(
    {
        *("add", "append", "approve", "archive", "assign", "book", "cancel", "close", "create", "delete"),
        *("deploy", "drop", "edit", "grant", "insert", "invite", "merge", "modify", "move", "patch", "pay"),
        *("post", "publish", "purge", "put", "reject", "remove", "rename", "replace", "reset", "revoke"),
        *("save", "schedule", "send", "set", "share", "store", "submit", "transfer", "update", "upload"),
        *("upsert", "write"),
    }
)
SCHEME_TYPES = frozenset({"noauth", "oauth2"})


class WireResult(BaseModel):
    """Any result, kept exactly as it came (the SDK has validated it against the MCP schema first)."""

    model_config = ConfigDict(extra="allow")


@dataclass
class Listing:
    """The tools/list result as it came over the wire."""

    tools: list[dict[str, Any]]
    size: int
    pages: int

    def get(self, name: str) -> dict[str, Any] | None:
        return next((t for t in self.tools if t.get("name") == name), None)


@dataclass
class Sizes:
    """Bytes of each response the tool checks received."""

    responses: dict[str, int] = field(default_factory=dict)


async def check_tools(probe: Probe) -> None:
    """Every ``tools.*`` check over one session on the transport that worked."""
    report = probe.report
    learned = probe.learned
    if learned.transport is None or learned.transport_url is None:
        reason = report.first_failed("transport.streamable_http", "transport.sse")
        message = f"blocked by {reason}" if reason else needs_token(probe)
        for check_id in TOOL_CHECKS:
            report.record(check_id, Status.SKIP, message)
        return
    sizes = Sizes()
    listing: Listing | None = None
    try:
        with anyio.fail_after(probe.options.timeout * 10):
            async with open_session(probe, learned.transport, learned.transport_url) as (session, _):
                listing = await list_tools(probe, session)
                if listing is None:
                    report.skip_unrecorded("blocked by tools.list", stage="tools")
                    return
                sizes.responses["tools/list"] = listing.size
                record_schemas(probe, listing)
                record_dialect(probe, listing)
                record_descriptions(probe, listing)
                record_annotations(probe, listing)
                record_hints(probe, listing)
                record_security_schemes(probe, listing)
                await check_search_and_fetch(probe, session, listing, sizes)
                await check_call(probe, session, listing, sizes)
    except Exception as exc:
        message = f"the MCP session failed: {explain_mcp(exc)}"
        if report.get("tools.list") is None:
            report.record("tools.list", Status.FAIL, message)
        report.skip_unrecorded(message, stage="tools")
    if listing is not None:
        await check_www_authenticate(probe, listing)
    record_sizes(probe, sizes)


# -- tools/list ----------------------------------------------------------------------------------


async def list_tools(probe: Probe, session: ClientSession) -> Listing | None:
    """``tools.list``: every page, each validated by the SDK against the negotiated MCP schema."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    size = pages = 0
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        try:
            raw = (await session.send_request(types.ListToolsRequest(params=params), WireResult)).model_dump()
        except ValidationError as exc:
            probe.report.record(
                "tools.list",
                Status.FAIL,
                "tools/list does not match the MCP schema",
                evidence=validation_lines(exc, 8),
                hint="Fix the tool definitions named above: each needs a name and an inputSchema object "
                "(type: object); see the MCP specification's Tool schema.",
            )
            return None
        except MCPError as exc:
            stepped = probe.learned.step_up
            probe.report.record(
                "tools.list",
                Status.FAIL,
                f"tools/list failed: JSON-RPC error {exc.code}: {exc.message}",
                evidence=stepped[-4:],
                hint="The server asked for more scopes: see oauth.step_up."
                if stepped
                else "Implement tools/list and declare the tools capability.",
            )
            return None
        pages += 1
        size += len(orjson.dumps(raw))
        tools += [t for t in raw.get("tools", []) if isinstance(t, dict)]
        cursor = raw.get("nextCursor")
        if not cursor:
            break
        if cursor in seen or pages >= MAX_PAGES:
            probe.report.record(
                "tools.list",
                Status.FAIL,
                f"pagination does not end (cursor repeated or over {MAX_PAGES} pages)",
                hint="Return nextCursor only while more tools follow, and never the same cursor twice.",
            )
            return None
        seen.add(cursor)
    listing = Listing(tools, size, pages)
    names = [str(t.get("name")) for t in tools]
    evidence = [f"{len(tools)} tool(s) in {pages} page(s): {', '.join(names) or '(none)'}"]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        probe.report.record(
            "tools.list",
            Status.FAIL,
            f"duplicate tool names: {', '.join(duplicates)}",
            evidence=evidence,
            hint="Tool names must be unique; prefix the tools of each connector.",
        )
        return listing
    if not tools:
        probe.report.record(
            "tools.list",
            Status.WARN,
            "the server lists no tools: ChatGPT will show none",
            evidence=evidence,
            hint="Check that the server's tools are registered (and visible to this caller), then use Refresh "
            "in the ChatGPT app.",
        )
        return listing
    odd = []
    for name in names:
        verdict = validate_tool_name(name)
        if not verdict.is_valid:
            odd.append(f"{name}: {'; '.join(verdict.warnings)}")
    if odd:
        probe.report.record(
            "tools.list",
            Status.WARN,
            f"{len(odd)} tool name(s) outside the recommended characters",
            evidence=[*evidence, *odd],
            hint="Use 1-128 characters of A-Z, a-z, 0-9, _, - and . for tool names (SEP-986).",
        )
        return listing
    probe.report.record("tools.list", Status.PASS, f"{len(tools)} valid tool(s)", evidence=evidence)
    return listing


def record_schemas(probe: Probe, listing: Listing) -> None:
    """``tools.schemas``: input (and output) schemas are valid JSON Schema with an object root."""
    errors: list[str] = []
    warnings: list[str] = []
    for tool in listing.tools:
        name = tool.get("name")
        for key in ("inputSchema", "outputSchema"):
            schema = tool.get(key)
            if schema is None and key == "outputSchema":
                continue
            problem = schema_problem(schema)
            if problem:
                errors.append(f"{name}.{key}: {problem}")
            elif isinstance(schema, dict) and schema.get("type") != "object":
                target = errors if key == "inputSchema" else warnings
                target.append(f"{name}.{key}: root type is {schema.get('type')!r}, not 'object'")
    if errors:
        probe.report.record(
            "tools.schemas",
            Status.FAIL,
            f"{len(errors)} invalid schema(s)",
            evidence=errors + warnings,
            hint="Each inputSchema must be a valid JSON Schema (2020-12 unless $schema says otherwise) whose "
            "root is type: object; ChatGPT drops or cannot call tools with broken schemas.",
        )
    elif warnings:
        probe.report.record(
            "tools.schemas",
            Status.WARN,
            "output schemas without an object root",
            evidence=warnings,
            hint="Before 2026-07-28 an outputSchema must have type: object at its root.",
        )
    else:
        probe.report.record(
            "tools.schemas", Status.PASS, f"all {len(listing.tools)} schema set(s) are valid JSON Schema"
        )


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (checked against its metaschema), or None."""
    if not isinstance(schema, dict):
        return f"not a JSON object ({type(schema).__name__})"
    try:
        validator = validator_for(schema, default=Draft202012Validator)
        validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{exc.message}" + (f" (at {where})" if where else "")
    return None


def record_dialect(probe: Probe, listing: Listing) -> None:
    """``tools.schema_dialect``: valid schemas that still use forms ChatGPT rejects (pre-2020-12)."""
    found: list[str] = []
    doubts: list[str] = []
    for tool in listing.tools:
        name = tool.get("name")
        for key in ("inputSchema", "outputSchema"):
            schema = tool.get(key)
            if schema is None or schema_problem(schema):
                continue  # missing, or invalid: tools.schemas says so
            problems, warnings = dialect_problems(schema, f"{name}.{key}")
            found += problems
            doubts += warnings
    hint = (
        "Emit JSON Schema 2020-12: prefixItems instead of an items array, items instead of additionalItems, "
        "dependentRequired/dependentSchemas instead of dependencies, numeric exclusiveMinimum/Maximum, $id, "
        "$defs, and no $schema naming draft-07 or older (zod-to-json-schema: target jsonSchema2020-12 or "
        "openApi3). ChatGPT reads every schema as 2020-12."
    )
    if found:
        probe.report.record(
            "tools.schema_dialect",
            Status.FAIL,
            f"{len(found)} schema construct(s) ChatGPT rejects",
            evidence=found + doubts,
            hint=hint,
        )
    elif doubts:
        probe.report.record(
            "tools.schema_dialect",
            Status.WARN,
            f"{len(doubts)} schema(s) declare an older draft (their forms mean the same in 2020-12)",
            evidence=doubts,
            hint=hint,
        )
    else:
        probe.report.record(
            "tools.schema_dialect", Status.PASS, "every schema uses JSON Schema 2020-12 forms only"
        )


def record_descriptions(probe: Probe, listing: Listing) -> None:
    """``tools.descriptions``: the model picks tools by their descriptions."""
    weak = []
    for tool in listing.tools:
        description = str(tool.get("description") or "").strip()
        if not description:
            weak.append(f"{tool.get('name')}: no description")
        elif len(description) < MIN_DESCRIPTION:
            weak.append(f"{tool.get('name')}: {description!r} ({len(description)} characters)")
    if weak:
        probe.report.record(
            "tools.descriptions",
            Status.WARN,
            f"{len(weak)} tool(s) with a missing or very short description",
            evidence=weak,
            hint="Say what each tool does and when to use it: ChatGPT chooses tools by their descriptions.",
        )
    else:
        probe.report.record(
            "tools.descriptions", Status.PASS, f"all {len(listing.tools)} tools are described"
        )


def record_annotations(probe: Probe, listing: Listing) -> None:
    """``tools.annotations``: a tool that sounds like a write but claims readOnlyHint would skip
    ChatGPT's confirmation."""
    suspicious: list[str] = []
    contradictory: list[str] = []
    unannotated: list[str] = []
    for tool in listing.tools:
        name = str(tool.get("name"))
        annotations = tool.get("annotations")
        hints: dict[str, Any] = annotations if isinstance(annotations, dict) else {}
        read_only = hints.get("readOnlyHint")
        if read_only is None:
            unannotated.append(name)
            continue
        if read_only is True and hints.get("destructiveHint") is True:
            contradictory.append(f"{name}: readOnlyHint and destructiveHint are both true")
        verb = write_verb(name, str(tool.get("description") or ""))
        if read_only is True and verb:
            suspicious.append(f"{name}: readOnlyHint true, but it sounds like a write ({verb!r})")
    evidence = [*suspicious, *contradictory]
    if unannotated:
        evidence.append(
            f"no readOnlyHint (ChatGPT treats them as write tools and asks to confirm): {', '.join(unannotated)}"
        )
    if suspicious or contradictory:
        probe.report.record(
            "tools.annotations",
            Status.WARN,
            f"{len(suspicious) + len(contradictory)} tool(s) with doubtful read-only hints",
            evidence=evidence,
            hint="Set readOnlyHint false on tools that change anything, so ChatGPT asks the user to confirm "
            "them (and Plus/Pro plans, which allow read-only tools only, do not offer them).",
        )
    else:
        probe.report.record(
            "tools.annotations", Status.PASS, "no read-only tool looks like a write", evidence=evidence
        )


def record_hints(probe: Probe, listing: Listing) -> None:
    """``tools.hints``: readOnlyHint, destructiveHint and openWorldHint set on every tool, so ChatGPT
    does not fall back to the spec's pessimistic defaults (a write, destructive, open world)."""
    missing: list[str] = []
    for tool in listing.tools:
        annotations = tool.get("annotations")
        hints: dict[str, Any] = annotations if isinstance(annotations, dict) else {}
        absent = [hint for hint in HINTS if not isinstance(hints.get(hint), bool)]
        if absent:
            missing.append(f"{tool.get('name')}: no {', '.join(absent)}")
    if missing:
        probe.report.record(
            "tools.hints",
            Status.WARN,
            f"{len(missing)} tool(s) leave hints unset",
            evidence=missing,
            hint="Set readOnlyHint, destructiveHint and openWorldHint explicitly on every tool: unset, ChatGPT "
            "assumes a write that may destroy data and reach the open world, asks users to confirm every call, "
            "and Plus/Pro plans (read-only connectors) do not offer the tool.",
        )
    else:
        probe.report.record("tools.hints", Status.PASS, f"all {len(listing.tools)} tools set all three hints")


def write_verb(name: str, description: str) -> str | None:
    """A write verb in the tool's name, or the verb its description starts with, if any."""
    words = re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", name)
    for word in words:
        if word.lower() in WRITE_VERBS:
            return word.lower()
    first = (description.split() or [""])[0].lower().strip(".,:;")
    for candidate in (first, first.removesuffix("s"), first.removesuffix("es")):
        if candidate in WRITE_VERBS:
            return candidate
    return None


def record_security_schemes(probe: Probe, listing: Listing) -> None:
    """``tools.security_schemes``: well-formed per-tool schemes (ChatGPT's mixed auth), consistent with
    the server's OAuth metadata."""
    declared = {str(t.get("name")): security_schemes(t) for t in listing.tools}
    declared = {name: schemes for name, schemes in declared.items() if schemes is not None}
    if not declared:
        probe.report.record("tools.security_schemes", Status.NA, "no tool declares securitySchemes")
        return
    learned = probe.learned
    scopes_known = set((learned.server_metadata or {}).get("scopes_supported") or []) | set(
        (learned.resource_metadata or {}).get("scopes_supported") or []
    )
    errors: list[str] = []
    warnings: list[str] = []
    for name, schemes in declared.items():
        if not isinstance(schemes, list) or not schemes:
            errors.append(f"{name}: securitySchemes must be a non-empty list, got {excerpt(schemes, 80)}")
            continue
        for scheme in schemes:
            kind = scheme.get("type") if isinstance(scheme, dict) else None
            if kind not in SCHEME_TYPES:
                errors.append(f"{name}: unknown scheme {excerpt(scheme, 80)} (type must be noauth or oauth2)")
                continue
            assert isinstance(scheme, dict)
            if kind == "oauth2":
                scopes = scheme.get("scopes", [])
                if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                    errors.append(f"{name}: oauth2 scopes must be a list of strings")
                elif learned.server_metadata is None:
                    errors.append(
                        f"{name}: asks for oauth2, but the server publishes no usable OAuth metadata"
                    )
                elif scopes_known and not set(scopes) <= scopes_known:
                    missing = sorted(set(scopes) - scopes_known)
                    warnings.append(f"{name}: scopes {missing} are not in scopes_supported")
        kinds = {s.get("type") for s in schemes if isinstance(s, dict)}
        if kinds == {"noauth"} and learned.auth_required:
            warnings.append(
                f"{name}: declares noauth only, but the endpoint requires a token for every request"
            )
    evidence = [f"{name}: {excerpt(schemes, 160)}" for name, schemes in declared.items()]
    if errors:
        probe.report.record(
            "tools.security_schemes",
            Status.FAIL,
            f"{len(errors)} malformed security scheme(s)",
            evidence=errors + warnings + evidence,
            hint='Put a list such as [{"type": "noauth"}, {"type": "oauth2", "scopes": ["…"]}] in each tool\'s '
            "_meta.securitySchemes, with scopes the authorization server advertises.",
        )
    elif warnings:
        probe.report.record(
            "tools.security_schemes",
            Status.WARN,
            f"{len(warnings)} inconsistent security scheme(s)",
            evidence=warnings + evidence,
            hint="Keep per-tool schemes consistent with the server's metadata and its 401 behaviour.",
        )
    else:
        probe.report.record(
            "tools.security_schemes",
            Status.PASS,
            f"{len(declared)} tool(s) declare well-formed schemes",
            evidence=evidence,
        )


def security_schemes(tool: dict[str, Any]) -> Any:
    """A tool's securitySchemes: in ``_meta`` (where the SDK keeps them), else top level."""
    meta = tool.get("_meta")
    if isinstance(meta, dict) and "securitySchemes" in meta:
        return meta["securitySchemes"]
    return tool.get("securitySchemes")


# -- search and fetch -------------------------------------------------------------------------


async def call_tool(
    session: ClientSession, name: str, arguments: dict[str, Any], probe: Probe | None = None
) -> tuple[dict[str, Any], int]:
    """A raw tools/call result (validated by the SDK against the MCP schema) and its size in bytes;
    a ``mcp/www_authenticate`` it carries is kept for ``tools.www_authenticate``."""
    request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments))
    raw = (await session.send_request(request, WireResult)).model_dump()
    meta = raw.get("_meta")
    if probe is not None and isinstance(meta, dict) and WWW_AUTHENTICATE in meta:
        probe.learned.challenges.append((f"tools/call {name}", meta[WWW_AUTHENTICATE]))
    return raw, len(orjson.dumps(raw))


def single_json_text(raw: dict[str, Any]) -> tuple[Any, str | None]:
    """The JSON in a result's one text content item, or why there is none."""
    content = raw.get("content")
    if not isinstance(content, list) or len(content) != 1:
        count = len(content) if isinstance(content, list) else 0
        return None, f"returns {count} content items, not exactly one"
    item = content[0]
    if not isinstance(item, dict) or item.get("type") != "text":
        return (
            None,
            f"the content item is of type {item.get('type') if isinstance(item, dict) else '?'}, not text",
        )
    try:
        return orjson.loads(str(item.get("text", ""))), None
    except orjson.JSONDecodeError:
        return None, f"the text is not JSON: {shorten(str(item.get('text', '')), 120)}"


def sign_in_needed(raw: dict[str, Any]) -> bool:
    """Whether an error result asks the client to sign in (``_meta["mcp/www_authenticate"]``)."""
    meta = raw.get("_meta")
    return bool(raw.get("isError")) and isinstance(meta, dict) and "mcp/www_authenticate" in meta


def string_property(tool: dict[str, Any], name: str) -> bool:
    schema = tool.get("inputSchema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    prop = properties.get(name) if isinstance(properties, dict) else None
    return isinstance(prop, dict) and prop.get("type") == "string"


async def check_search_and_fetch(
    probe: Probe, session: ClientSession, listing: Listing, sizes: Sizes
) -> None:
    """``tools.search`` and ``tools.fetch``: ChatGPT's deep-research contract, on real calls."""
    report = probe.report
    search, fetch = listing.get("search"), listing.get("fetch")
    if search is None and fetch is None:
        message = (
            "not applicable: no search/fetch tools (ChatGPT deep research and company knowledge need them; "
            "chat can use any tools)"
        )
        report.record("tools.search", Status.NA, message)
        report.record("tools.fetch", Status.NA, message)
        return
    pair_hint = "Offer both search and fetch: deep research and company knowledge use them together."
    if search is None:
        report.record("tools.search", Status.WARN, "fetch without search", hint=pair_hint)
        report.record("tools.fetch", Status.SKIP, "no search to find an id to fetch")
        return
    first_id = await check_search(probe, session, search, sizes)
    if fetch is None:
        report.record("tools.fetch", Status.WARN, "search without fetch", hint=pair_hint)
        return
    if first_id is None:
        searched = report.get("tools.search")
        if searched is not None and searched.status is Status.FAIL:
            message = "blocked by tools.search"
        elif searched is not None and searched.status is Status.SKIP:
            message = searched.message
        else:
            message = "search found nothing to fetch (try --search-query)"
        report.record("tools.fetch", Status.SKIP, message)
        return
    await check_fetch(probe, session, fetch, first_id, sizes)


async def check_search(
    probe: Probe, session: ClientSession, tool: dict[str, Any], sizes: Sizes
) -> str | None:
    """``tools.search``; the first result's id for fetch."""
    report = probe.report
    hint = (
        'search must take one string argument "query" and return exactly one text content item whose text is '
        'JSON {"results": [{"id", "title", "url"}, …]}.'
    )
    if not string_property(tool, "query"):
        report.record(
            "tools.search",
            Status.FAIL,
            "search has no string argument 'query'",
            evidence=[f"inputSchema: {excerpt(tool.get('inputSchema'), 300)}"],
            hint=hint,
        )
        return None
    queries: Sequence[str] = (probe.options.search_query,) if probe.options.search_query else DEFAULT_QUERIES
    evidence: list[str] = []
    for query in queries:
        try:
            raw, size = await call_tool(session, "search", {"query": query}, probe)
        except (MCPError, ValidationError) as exc:
            report.record(
                "tools.search", Status.FAIL, f"search failed: {error_text(exc)}", evidence=evidence, hint=hint
            )
            return None
        sizes.responses[f"search({query!r})"] = size
        evidence.append(f"search({query!r}) → {excerpt(raw, 300)}")
        if sign_in_needed(raw):
            report.record(
                "tools.search",
                Status.SKIP,
                "search asks for sign-in (mcp/www_authenticate): run with --interactive",
                evidence=evidence,
            )
            return None
        if raw.get("isError"):
            report.record("tools.search", Status.FAIL, "search returned an error result", evidence=evidence)
            return None
        payload, problem = single_json_text(raw)
        if problem is None:
            problem = results_problem(payload)
        if problem:
            report.record(
                "tools.search", Status.FAIL, f"wrong shape: {problem}", evidence=evidence, hint=hint
            )
            return None
        results = payload["results"]
        structured = raw.get("structuredContent")
        if not results:
            continue
        if structured is not None and structured != payload:
            report.record(
                "tools.search",
                Status.WARN,
                "structuredContent differs from the JSON in the text content",
                evidence=evidence,
                hint="Return the same object in structuredContent and in the text item.",
            )
            return str(results[0]["id"])
        relative = [r["url"] for r in results if urlsplit(r["url"]).scheme not in ("http", "https")]
        if relative:
            report.record(
                "tools.search",
                Status.WARN,
                f"{len(relative)} result url(s) are not absolute http(s) URLs",
                evidence=[*evidence, *relative[:3]],
                hint="ChatGPT cites results by url: return absolute links.",
            )
        else:
            report.record(
                "tools.search",
                Status.PASS,
                f"{len(results)} result(s) for {query!r}, in ChatGPT's shape",
                evidence=evidence,
            )
        return str(results[0]["id"])
    report.record(
        "tools.search",
        Status.WARN,
        f"the shape is right, but no query found anything ({', '.join(repr(q) for q in queries)})",
        evidence=evidence,
        hint="Pass --search-query with words your content contains to check fetch too.",
    )
    return None


def results_problem(payload: Any) -> str | None:
    """How a search payload differs from {"results": [{"id", "title", "url"}]}, or None."""
    if isinstance(payload, list):
        return 'the JSON is a bare list; wrap it as {"results": [...]}'
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        return (
            f'the JSON has no "results" list (keys: {sorted(payload) if isinstance(payload, dict) else "-"})'
        )
    for index, result in enumerate(payload["results"]):
        if not isinstance(result, dict):
            return f"results[{index}] is not an object"
        missing = [k for k in ("id", "title", "url") if not isinstance(result.get(k), str)]
        if missing:
            return f"results[{index}] lacks string {', '.join(missing)} (has {', '.join(sorted(result))})"
    return None


async def check_fetch(
    probe: Probe, session: ClientSession, tool: dict[str, Any], document_id: str, sizes: Sizes
) -> None:
    """``tools.fetch``: fetch the first search result's id; expect {"id","title","text","url","metadata"}."""
    report = probe.report
    hint = (
        'fetch must take one string argument "id" and return exactly one text content item whose text is JSON '
        '{"id", "title", "text", "url", "metadata"}.'
    )
    if not string_property(tool, "id"):
        report.record(
            "tools.fetch",
            Status.FAIL,
            "fetch has no string argument 'id'",
            evidence=[f"inputSchema: {excerpt(tool.get('inputSchema'), 300)}"],
            hint=hint,
        )
        return
    try:
        raw, size = await call_tool(session, "fetch", {"id": document_id}, probe)
    except (MCPError, ValidationError) as exc:
        report.record("tools.fetch", Status.FAIL, f"fetch failed: {error_text(exc)}", hint=hint)
        return
    sizes.responses[f"fetch({document_id!r})"] = size
    evidence = [f"fetch({document_id!r}) → {excerpt(raw, 300)}"]
    if sign_in_needed(raw):
        report.record(
            "tools.fetch", Status.SKIP, "fetch asks for sign-in (mcp/www_authenticate): run with --interactive",
            evidence=evidence,
        )  # fmt: skip
        return
    if raw.get("isError"):
        report.record(
            "tools.fetch", Status.FAIL, "fetch of a search result's id returned an error", evidence=evidence
        )
        return
    payload, problem = single_json_text(raw)
    if problem is None:
        if not isinstance(payload, dict):
            problem = "the JSON is not an object"
        else:
            missing = [k for k in ("id", "title", "text", "url") if not isinstance(payload.get(k), str)]
            if missing:
                problem = f"lacks string {', '.join(missing)}"
            elif "metadata" not in payload or not isinstance(payload["metadata"], dict | None):
                problem = "lacks a metadata object"
    if problem:
        report.record("tools.fetch", Status.FAIL, f"wrong shape: {problem}", evidence=evidence, hint=hint)
        return
    if payload["id"] != document_id:
        report.record(
            "tools.fetch",
            Status.WARN,
            f"fetched {payload['id']!r} for id {document_id!r}",
            evidence=evidence,
            hint="Return the requested id.",
        )
        return
    report.record(
        "tools.fetch",
        Status.PASS,
        f"{len(payload['text'])} characters of {payload['title']!r}, in ChatGPT's shape",
        evidence=evidence,
    )


async def check_call(probe: Probe, session: ClientSession, listing: Listing, sizes: Sizes) -> None:
    """``tools.call``: the tool --call-tool names answers (through a step-up, if it needs one)."""
    name = probe.options.call_tool
    report = probe.report
    if not name:
        report.record("tools.call", Status.NA, "not asked for (--call-tool names a tool to call)")
        return
    if listing.get(name) is None:
        report.record(
            "tools.call",
            Status.FAIL,
            f"no tool named {name!r}",
            hint="Name one of the tools tools/list shows.",
        )
        return
    arguments = probe.options.call_arguments or {}
    try:
        raw, size = await call_tool(session, name, arguments, probe)
    except (MCPError, ValidationError) as exc:
        report.record(
            "tools.call",
            Status.FAIL,
            f"{name} failed: {error_text(exc)}",
            evidence=probe.learned.step_up[-4:],
            hint="See oauth.step_up if the server asked for more scopes.",
        )
        return
    sizes.responses[f"{name}(…)"] = size
    evidence = [f"{name}({excerpt(arguments, 120)}) → {excerpt(raw, 300)}"]
    if sign_in_needed(raw):
        report.record(
            "tools.call", Status.SKIP, f"{name} asks for sign-in (mcp/www_authenticate): run with --interactive",
            evidence=evidence,
        )  # fmt: skip
    elif raw.get("isError"):
        report.record("tools.call", Status.WARN, f"{name} answered with an error result", evidence=evidence)
    else:
        report.record("tools.call", Status.PASS, f"{name} answered", evidence=evidence)


async def check_www_authenticate(probe: Probe, listing: Listing) -> None:
    """``tools.www_authenticate``: every ``mcp/www_authenticate`` a result carried is a Bearer
    challenge with error and error_description; on a mixed-auth server, a tool that declares only
    oauth2 is called once without a token to see its challenge."""
    evidence: list[str] = []
    await call_anonymously(probe, listing, evidence)
    challenges = probe.learned.challenges
    if not challenges:
        probe.report.record(
            "tools.www_authenticate",
            Status.NA,
            "no tool result carried mcp/www_authenticate",
            evidence=evidence,
        )
        return
    problems: list[str] = []
    warnings: list[str] = []
    for where, value in challenges:
        found, doubts = tool_challenge_problems(value)
        problems += [f"{where}: {line}" for line in found]
        warnings += [f"{where}: {line}" for line in doubts]
        evidence.append(f"{where}: {excerpt(value, 300)}")
    hint = (
        'Return the challenge as _meta["mcp/www_authenticate"]: ["Bearer resource_metadata=\\"https://…/.well-known/'
        'oauth-protected-resource/mcp\\", error=\\"insufficient_scope\\", error_description=\\"…\\""]: ChatGPT '
        "starts linking only from a Bearer challenge that carries error and error_description."
    )
    if problems:
        probe.report.record(
            "tools.www_authenticate",
            Status.FAIL,
            f"{len(problems)} malformed challenge(s)",
            evidence=problems + warnings + evidence,
            hint=hint,
        )
    elif warnings:
        probe.report.record(
            "tools.www_authenticate", Status.WARN, "challenges without resource_metadata",
            evidence=warnings + evidence, hint=hint,
        )  # fmt: skip
    else:
        probe.report.record(
            "tools.www_authenticate",
            Status.PASS,
            f"{len(challenges)} challenge(s), each with error and error_description",
            evidence=evidence,
        )


async def call_anonymously(probe: Probe, listing: Listing, evidence: list[str]) -> None:
    """On a mixed-auth server, call ``search`` without a token when it declares only oauth2: ChatGPT
    does so before the user has linked, and expects a challenge back."""
    learned = probe.learned
    mixed = not learned.auth_required and learned.resource_metadata is not None
    tool = listing.get("search")
    schemes = security_schemes(tool) if tool is not None else None
    if not mixed or tool is None or not string_property(tool, "query") or not isinstance(schemes, list):
        return
    kinds = {s.get("type") for s in schemes if isinstance(s, dict)}
    if (
        "noauth" in kinds
        or "oauth2" not in kinds
        or learned.transport is None
        or learned.transport_url is None
    ):
        return
    try:
        with anyio.fail_after(probe.options.timeout * 3):
            async with open_session(probe, learned.transport, learned.transport_url, anonymous=True) as (
                session,
                _,
            ):
                raw, _ = await call_tool(session, "search", {"query": "test"}, probe)
    except Exception as exc:
        evidence.append(f"search without a token → {explain_mcp(exc)}")
        return
    evidence.append(f"search without a token (it declares oauth2 only) → {excerpt(raw, 300)}")


def error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "the result does not match the MCP schema: " + "; ".join(validation_lines(exc, 3))
    return explain_mcp(exc)


def record_sizes(probe: Probe, sizes: Sizes) -> None:
    """``tools.response_size``: how much of the model's context the surface and results take."""
    if probe.report.get("tools.response_size") is not None:
        return
    if not sizes.responses:
        probe.report.record("tools.response_size", Status.SKIP, "no responses to measure")
        return
    evidence = [f"{what}: {size:,} bytes" for what, size in sizes.responses.items()]
    large = [
        f"{what}: {size:,} bytes"
        for what, size in sizes.responses.items()
        if size > (LIST_SIZE_WARNING if what == "tools/list" else RESULT_SIZE_WARNING)
    ]
    if large:
        probe.report.record(
            "tools.response_size",
            Status.WARN,
            f"{len(large)} large response(s)",
            evidence=evidence,
            hint=f"Keep tools/list under {LIST_SIZE_WARNING:,} bytes and results under {RESULT_SIZE_WARNING:,}: "
            "large payloads crowd the model's context (trim descriptions, paginate, truncate documents).",
        )
    else:
        probe.report.record(
            "tools.response_size",
            Status.PASS,
            f"largest response {max(sizes.responses.values()):,} bytes",
            evidence=evidence,
        )
