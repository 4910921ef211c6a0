"""The doctor's checks and their results: the catalog of check ids, the report, and how it is rendered.

The JSON form (``Report.to_dict``) is a stable contract for CI pipelines::

    {
      "schema": "bridgehead.doctor/1",
      "target": "https://mcp.example.com/mcp",
      "exit_code": 0,
      "counts": {"pass": 20, "warn": 1, "fail": 0, "skip": 2, "n/a": 3},
      "checks": [
        {"id": "url.https", "stage": "url", "title": "…", "status": "pass",
         "message": "…", "evidence": ["…"], "hint": null},
        …
      ]
    }

Every check of the catalog appears exactly once, in catalog order, whatever the server;
new checks are only ever added, and ids never change meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

SCHEMA = "bridgehead.doctor/1"


class Status(StrEnum):
    """The outcome of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    """Not run: it needs something the run did not have (a sign-in, an earlier check that failed)."""
    NA = "n/a"
    """Does not apply to this server (e.g. OAuth checks on a server without authorization)."""


@dataclass(frozen=True)
class CheckSpec:
    """One check the doctor knows: a stable id, the stage of ChatGPT's connection flow, a title."""

    id: str
    stage: str
    title: str


CATALOG: tuple[CheckSpec, ...] = (
    CheckSpec("url.https", "url", "HTTPS with a valid certificate"),
    CheckSpec("url.endpoint", "url", "The URL answers as an MCP endpoint"),
    CheckSpec("transport.streamable_http", "transport", "Streamable HTTP: initialize"),
    CheckSpec("transport.discover", "transport", "Streamable HTTP: server/discover (2026-07-28)"),
    CheckSpec("transport.sse", "transport", "Legacy SSE transport: endpoint event and initialize"),
    CheckSpec("transport.redirects", "transport", "Protocol paths answer directly, without 3xx redirects"),
    CheckSpec("transport.sessions", "transport", "An unknown session id gets 404, so clients re-initialize"),
    CheckSpec("auth.challenge", "auth", "401 with a Bearer WWW-Authenticate challenge"),
    CheckSpec("auth.protected_resource", "auth", "Protected Resource Metadata (RFC 9728)"),
    CheckSpec("auth.server_metadata", "auth", "Authorization Server Metadata / OpenID discovery"),
    CheckSpec("auth.metadata_urls", "auth", "Metadata URLs match how the server is reached"),
    CheckSpec("auth.offline_access", "auth", "offline_access in scopes_supported"),
    CheckSpec("auth.token_auth_methods", "auth", "Token endpoint accepts client_secret_basic"),
    CheckSpec("auth.pkce", "auth", "PKCE with S256"),
    CheckSpec("auth.registration", "auth", "Client registration: dynamic or client ID metadata document"),
    CheckSpec("auth.automated_clients", "auth", "No firewall or bot rule refuses automated clients"),
    CheckSpec("oauth.register", "oauth", "Dynamic client registration as ChatGPT registers"),
    CheckSpec("oauth.authorize", "oauth", "Authorization request with PKCE"),
    CheckSpec("oauth.iss", "oauth", "The authorization response names the issuer (RFC 9207)"),
    CheckSpec("oauth.token", "oauth", "Authorization code exchange"),
    CheckSpec("oauth.refresh_issued", "oauth", "A refresh token is issued"),
    CheckSpec("oauth.refresh_grant", "oauth", "Refresh token grant"),
    CheckSpec("oauth.audience", "oauth", "Access tokens are bound to this resource (RFC 8707)"),
    CheckSpec("oauth.cimd", "oauth", "Client ID metadata documents, as ChatGPT identifies itself"),
    CheckSpec("oauth.redirect_uris", "oauth", "Both forms of ChatGPT's redirect URI are accepted"),
    CheckSpec("oauth.empty_scope", "oauth", "An authorization request without scope is not refused"),
    CheckSpec("oauth.step_up", "oauth", "403 insufficient_scope leads to a working step-up"),
    CheckSpec("oauth.differences", "oauth", "Where ChatGPT and a spec-conformant client fare differently"),
    CheckSpec("tools.list", "tools", "tools/list is valid"),
    CheckSpec("tools.schemas", "tools", "Tool schemas are valid JSON Schema"),
    CheckSpec("tools.schema_dialect", "tools", "Tool schemas avoid forms ChatGPT rejects (2020-12 only)"),
    CheckSpec("tools.descriptions", "tools", "Tool descriptions are present and useful"),
    CheckSpec("tools.annotations", "tools", "Write tools are not annotated read-only"),
    CheckSpec("tools.hints", "tools", "readOnlyHint, destructiveHint and openWorldHint are set"),
    CheckSpec("tools.security_schemes", "tools", "Per-tool securitySchemes are well-formed"),
    CheckSpec("tools.www_authenticate", "tools", "mcp/www_authenticate challenges are well-formed"),
    CheckSpec("tools.call", "tools", "The tool named by --call-tool answers"),
    CheckSpec("tools.search", "tools", "search follows ChatGPT's contract"),
    CheckSpec("tools.fetch", "tools", "fetch follows ChatGPT's contract"),
    CheckSpec("tools.response_size", "tools", "Response sizes"),
)
SPECS: dict[str, CheckSpec] = {spec.id: spec for spec in CATALOG}

# Values never shown in evidence, whatever document they appear in.
SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "code", "code_verifier", "password"}
)


@dataclass
class CheckResult:
    """What one check found: its status, a one-line message, the evidence and a fix hint."""

    id: str
    status: Status
    message: str
    evidence: list[str] = field(default_factory=list)
    hint: str | None = None

    @property
    def spec(self) -> CheckSpec:
        return SPECS[self.id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.spec.stage,
            "title": self.spec.title,
            "status": self.status.value,
            "message": self.message,
            "evidence": list(self.evidence),
            "hint": self.hint,
        }


class Report:
    """The results of one doctor run, one per check of the catalog."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._results: dict[str, CheckResult] = {}

    def record(
        self,
        check_id: str,
        status: Status,
        message: str,
        *,
        evidence: Iterable[str] = (),
        hint: str | None = None,
    ) -> CheckResult:
        """Record (or replace) the result of a check."""
        if check_id not in SPECS:
            raise KeyError(f"unknown doctor check {check_id!r}")
        result = CheckResult(check_id, status, message, list(evidence), hint)
        self._results[check_id] = result
        return result

    def get(self, check_id: str) -> CheckResult | None:
        return self._results.get(check_id)

    def status(self, check_id: str) -> Status | None:
        result = self._results.get(check_id)
        return result.status if result else None

    def first_failed(self, *check_ids: str) -> str | None:
        """The first of ``check_ids`` that failed, for "blocked by" results."""
        return next((c for c in check_ids if self.status(c) is Status.FAIL), None)

    def skip_unrecorded(self, message: str, stage: str | None = None) -> None:
        """Mark every check not yet recorded (of one stage, or all) as skipped."""
        for spec in CATALOG:
            if spec.id not in self._results and (stage is None or spec.stage == stage):
                self.record(spec.id, Status.SKIP, message)

    @property
    def checks(self) -> list[CheckResult]:
        """Every check in catalog order; a check nothing recorded shows as skipped."""
        return [
            self._results.get(spec.id) or CheckResult(spec.id, Status.SKIP, "not run") for spec in CATALOG
        ]

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for result in self.checks:
            counts[result.status.value] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """0 when nothing failed (warnings allowed), 1 otherwise."""
        return 1 if any(r.status is Status.FAIL for r in self.checks) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "target": self.target,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "checks": [result.to_dict() for result in self.checks],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


# -- evidence ------------------------------------------------------------------------------------


def redact(value: Any) -> Any:
    """A copy of a JSON value with secrets (tokens, client secrets, codes) replaced by their length."""
    if isinstance(value, Mapping):
        return {
            k: (f"<redacted, {len(v)} chars>" if k in SECRET_KEYS and isinstance(v, str) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def excerpt(value: Any, limit: int = 400) -> str:
    """Compact, redacted JSON of a value, cut at ``limit`` characters."""
    text = json.dumps(redact(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return shorten(text, limit)


def shorten(text: str, limit: int = 400) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- rendering -----------------------------------------------------------------------------------

STYLES = {
    Status.PASS: ("✔ pass", "green"),
    Status.WARN: ("! warn", "yellow"),
    Status.FAIL: ("✘ fail", "bold red"),
    Status.SKIP: ("- skip", "cyan"),
    Status.NA: ("· n/a", "dim"),
}


def render(report: Report, console: Console, *, verbose: bool = False) -> None:
    """The summary table, then evidence and hints (for every check with ``verbose``, else the
    ones that did not pass)."""
    table = Table(title=f"bridgehead doctor · {report.target}", title_justify="left", expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result")
    for result in report.checks:
        label, style = STYLES[result.status]
        table.add_row(Text(label, style=style), result.id, Text(result.message))
    console.print(table)
    for result in report.checks:
        shown = verbose or result.status in (Status.WARN, Status.FAIL, Status.SKIP)
        if not shown or (not result.evidence and not result.hint):
            continue
        label, style = STYLES[result.status]
        console.print(f"\n[{style}]{label}[/] [bold]{escape(result.id)}[/] — {escape(result.spec.title)}")
        for line in result.evidence:
            console.print(f"    {escape(line)}", highlight=False)
        if result.hint:
            console.print(f"    [bold]fix:[/] {escape(result.hint)}", highlight=False)
    counts = report.counts()
    summary = ", ".join(f"{counts[s.value]} {s.value}" for s in Status if counts[s.value])
    verdict = "[bold red]FAILED[/]" if report.exit_code else "[bold green]OK[/]"
    console.print(f"\n{verdict} — {summary}")
